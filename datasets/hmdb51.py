"""HMDB-51 layout: the Kinetics layout without a test folder; a video id is its key."""
from datasets.kinetics import LabelledFolders


class HMDB51(LabelledFolders):
    pass
