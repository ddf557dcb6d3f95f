"""UCF-101 layout: the Kinetics layout without a test folder; a video id is its key."""
from datasets.kinetics import LabelledFolders


class UCF101(LabelledFolders):
    pass
