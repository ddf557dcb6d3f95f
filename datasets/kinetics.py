"""Kinetics layout: `labels` + `database`; folders `<label>/<key>`, test videos `test/<key>`,
each with an `n_frames` file; a video id is the key less its `_%06d_%06d` time suffix.

UCF-101 and HMDB-51 use the same layout with their own folder and id rules (ucf101.py,
hmdb51.py).
"""
import os

from datasets.videodataset import (Video, VideoDataset, annotation_error, read_number,
                                   subset_entries)
from datasets.names import kinetics_video_id
from utils import UserError


class LabelledFolders(VideoDataset):
    """Videos in `<label>/<key>` folders holding an `n_frames` file."""
    test_folder = None  # folder of the unlabelled `testing` subset, if the layout has one

    def video_id(self, key):
        return key

    def read(self, data, subset):
        path = self.annotation_path
        labels = data.get('labels')
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise UserError(f'{path} has no "labels" list of class names')
        class_to_idx = {name: i for i, name in enumerate(labels)}
        videos = []
        for key, value in subset_entries(data, subset, path):
            if subset == 'testing' and self.test_folder:
                videos.append(Video(f'{self.test_folder}/{key}', self.video_id(key), -1))
                continue
            annotations = value.get('annotations')
            label = annotations.get('label') if isinstance(annotations, dict) else None
            if label is not None and not isinstance(label, str):
                raise annotation_error(path, key, f'has the label {label!r}: labels are class '
                                                  'names (strings) from "labels"')
            if not isinstance(label, str):
                raise annotation_error(path, key, 'has no "annotations": {"label": ...}')
            if label not in class_to_idx:
                raise annotation_error(path, key, f'has label {label!r}, which is not in '
                                                  '"labels"')
            videos.append(Video(f'{label}/{key}', self.video_id(key), class_to_idx[label]))
        return labels, videos

    def spans(self, record, video_dir):
        n_frames = read_number(f'{video_dir}/n_frames', 'number of frames')
        if n_frames is None:
            if not os.path.isdir(video_dir):
                return None
            raise UserError(f'{video_dir} has no n_frames file: write it with '
                            'utils_scripts/n_frames_kinetics.py or n_frames_ucf101_hmdb51.py')
        return self.spans_of_video(record, int(n_frames), None)

    def spans_of_video(self, record, n_frames, fps):
        """The spans and holes of a video of `n_frames` frames with none missing."""
        if n_frames < 1:
            return [], []
        return [(record.label, 1, n_frames + 1)], [n_frames + 1]


class Kinetics(LabelledFolders):
    test_folder = 'test'

    def video_id(self, key):
        return kinetics_video_id(key)
