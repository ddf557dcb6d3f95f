"""The 2020 release's annotation layout (--recipe 2020), for every dataset but ActivityNet:
`labels` + `database`, each entry's frames given by its `segment` [first, last + 1] (no
`n_frames` files), its folder `<label>/<key>` (unlabelled testing entries: `test/<key>`)
or the entry's own `video_path`. The video id in results is the whole key."""
import os

from datasets.annotations import Video, annotation_error, read_number, subset_entries
from datasets.labelled import LabelledFolders
from utils import UserError


class SegmentsLayout(LabelledFolders):
    """`name`, `title`: as --dataset and messages name the dataset."""
    test_folder = 'test'
    # The release's windows start at any frame of the segment, the last included.
    stop_offset = 0
    # The release's HDF5 loader takes a frame number as the entry's index: its Kinetics
    # builder writes segments [0, n) for HDF5 files.
    hdf5_first_number = 0

    def __init__(self, name, title):
        self.name, self.title = name, title

    def read(self, data, subset, path):
        labels = self.class_names(data, path)
        class_to_idx = {name: i for i, name in enumerate(labels)}
        videos = []
        for key, value in subset_entries(data, subset, path):
            label = self.label_of(value)
            if label is None and subset == 'testing':  # unlabelled (Kinetics' test videos)
                index, folder = -1, f'{self.test_folder}/{key}'
            elif label is None:  # (the release would train on class -1)
                raise annotation_error(path, key, f'of the {subset} subset has no '
                                                  '"annotations": {"label": ...}')
            elif not isinstance(label, str) or label not in class_to_idx:
                raise annotation_error(path, key, f'has label {label!r}, which is not in '
                                                  '"labels"')
            else:
                index, folder = class_to_idx[label], f'{label}/{key}'
            own = value.get('video_path')
            if own is not None and not isinstance(own, str):
                raise annotation_error(path, key, f'has the video_path {own!r}: a path is a '
                                                  'string')
            segment = self.segment_of(value, key, path)
            # An entry's own path is taken as the release takes it: relative to the
            # current folder, not to --video_path.
            videos.append(Video(os.path.abspath(own) if own else folder, key, index,
                                ((index, *segment),) if segment else ()))
        return labels, videos

    @staticmethod
    def segment_of(entry, key, path):
        """(first, end) of the entry's frames, or None where it gives none in frames (then
        the folder's n_frames file counts them, as under --recipe cvpr2018)."""
        annotations = entry.get('annotations')
        segment = annotations.get('segment') if isinstance(annotations, dict) else None
        if segment is None or isinstance(segment, list) and any(
                isinstance(x, float) for x in segment):
            return None  # none, or the CVPR 2018 Kinetics file's times in seconds
        if not (isinstance(segment, list) and len(segment) == 2 and
                all(isinstance(x, int) and not isinstance(x, bool) for x in segment) and
                segment[0] >= 0):
            raise annotation_error(path, key, f'has the segment {segment!r}: it should be '
                                              '[first frame, last frame + 1], from 1 (from 0 '
                                              'for HDF5 files)')
        return tuple(segment)

    def spans(self, record, video_dir, untrimmed=False):
        if not os.path.isdir(video_dir):
            return None
        if not record.segments:
            n_frames = read_number(f'{video_dir}/n_frames', 'number of frames')
            if n_frames is None:
                raise UserError(f'{video_dir}: its annotation entry has no "segment" and the '
                                'folder no n_frames file: rebuild the annotation file with '
                                'utils_scripts/')
            return super().spans_of_video(record, int(n_frames), None)
        _, first, end = record.segments[0]
        numbered_from_one(record, video_dir)
        if end <= first or end == 1:  # the release skips a segment ending at 1
            return [], []
        return [(record.label, first, end)], [end]

    def spans_of_video(self, record, n_frames, fps, untrimmed=False):
        if not record.segments:
            return super().spans_of_video(record, n_frames, fps)
        _, first, end = record.segments[0]
        numbered_from_one(record, record.folder)
        end = min(end, n_frames + 1)
        if end <= first:
            return [], []
        return [(record.label, first, end)], [end]

    def spans_of_entries(self, record, n_entries):
        """Frame k is entry k, as the release reads them; a segment past the file's end
        stops at its last frame (the release's own UCF-101 and HMDB-51 builders write [1,
        n + 1) for HDF5 files, one past it)."""
        if not record.segments:
            return ([(record.label, 0, n_entries)], [n_entries], 0) if n_entries else \
                ([], [], 0)
        _, first, end = record.segments[0]
        past, last_end = max(0, end - n_entries), min(end, n_entries)
        if last_end <= first or end == 1:
            return [], [], past
        return [(record.label, first, last_end)], [last_end], past


def numbered_from_one(record, where):
    """Frame folders and video files number frames from 1: a segment from 0 is an HDF5
    annotation."""
    if record.segments and record.segments[0][1] == 0:
        raise UserError(f'the annotation entry {record.video_id} ({where}) has a segment from '
                        'frame 0, as the release writes them for HDF5 files: give --file_type '
                        'hdf5 for those files, or rebuild the annotation for frame folders '
                        '(utils_scripts/*_json.py --video_type jpg)')
