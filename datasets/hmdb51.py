"""HMDB-51 layout: the labelled folders (labelled.py); a video id is its key."""
from datasets.labelled import TEST_LISTS_ARE_VALIDATION, LabelledFolders


class HMDB51Layout(LabelledFolders):
    name, title = 'hmdb51', 'HMDB-51'
    no_testing_subset = TEST_LISTS_ARE_VALIDATION
