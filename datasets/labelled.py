"""The labelled-folders layout that Kinetics, UCF-101 and HMDB-51 share: `labels` +
`database`; frame folders `<label>/<key>`, each with an `n_frames` file."""
import os

from datasets.annotations import Video, annotation_error, read_number, subset_entries
from datasets.layout import Layout
from utils import UserError

# UCF-101's and HMDB-51's official test lists are their annotation files' validation subset.
TEST_LISTS_ARE_VALIDATION = ('UCF-101 and HMDB-51 have none (their test lists are the '
                             'validation subset); use --test_subset val')


class LabelledFolders(Layout):
    """Videos in `<label>/<key>` folders holding an `n_frames` file."""
    test_folder = None  # folder of the unlabelled `testing` subset, if the layout has one

    def recognises(self, data):
        return isinstance(data.get('labels'), list)

    def class_names(self, data, path):
        labels = data.get('labels')
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise UserError(f'{path} has no "labels" list of class names')
        return labels

    def read(self, data, subset, path):
        labels = self.class_names(data, path)
        class_to_idx = {name: i for i, name in enumerate(labels)}
        videos = []
        for key, value in subset_entries(data, subset, path):
            if subset == 'testing' and self.test_folder:
                videos.append(Video(f'{self.test_folder}/{key}', self.video_id(key), -1))
                continue
            label = self.label_of(value)
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

    @staticmethod
    def label_of(entry):
        annotations = entry.get('annotations')
        return annotations.get('label') if isinstance(annotations, dict) else None

    def labels_of(self, entry):
        label = self.label_of(entry)
        return {label} if isinstance(label, str) else set()

    def spans(self, record, video_dir, untrimmed=False):
        n_frames = read_number(f'{video_dir}/n_frames', 'number of frames')
        if n_frames is None:
            if not os.path.isdir(video_dir):
                return None
            raise UserError(f'{video_dir} has no n_frames file: write it with '
                            'utils_scripts/n_frames_kinetics.py or n_frames_ucf101_hmdb51.py')
        return self.spans_of_video(record, int(n_frames), None)

    def spans_of_video(self, record, n_frames, fps, untrimmed=False):
        if n_frames < 1:
            return [], []
        return [(record.label, 1, n_frames + 1)], [n_frames + 1]
