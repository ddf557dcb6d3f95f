"""Kinetics layout: the labelled folders (labelled.py), with the unlabelled `testing` subset
in `test/<key>`; a video id is the key less its `_%06d_%06d` time suffix."""
from datasets.labelled import LabelledFolders
from datasets.names import kinetics_video_id


class KineticsLayout(LabelledFolders):
    name, title = 'kinetics', 'Kinetics'
    test_folder = 'test'

    def video_id(self, key):
        return kinetics_video_id(key)
