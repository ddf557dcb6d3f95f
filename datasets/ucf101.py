"""UCF-101 layout: the labelled folders (labelled.py); a video id is its key."""
from datasets.labelled import TEST_LISTS_ARE_VALIDATION, LabelledFolders


class UCF101Layout(LabelledFolders):
    name, title = 'ucf101', 'UCF-101'
    no_testing_subset = TEST_LISTS_ARE_VALIDATION
