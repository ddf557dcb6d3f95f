"""ActivityNet layout: `taxonomy` + `database` of untrimmed videos with annotated segments
in seconds; folders `v_<key>` holding the frames and an `fps` file.

Classes are the taxonomy's leaf nodes in taxonomy order. Each segment is a span of frames
ceil(start * fps) (0 becomes 1) ... ceil(end * fps) - 1; a clip is cut at the first frame
missing on disk after its start, and dropped with fewer than sample_duration frames. In the
untrimmed setting (test) the whole video is one span: frame 1 to the last frame present.
"""
import math
import os

import numpy as np

from datasets.annotations import (DamagedFolder, Video, annotation_error, read_number,
                                  subset_entries)
from datasets.layout import Layout
from datasets.names import FRAME_FILE, frame_numbers
from utils import UserError

MAX_SECONDS = 1_000_000  # 11 days: a longer segment is a damaged annotation

# A folder with more frame numbers missing than this beyond the frames it holds is damaged
# (a stray image_99999999.jpg): listing its holes would take memory out of all proportion.
MAX_EXTRA_HOLES = 1000


def leaf_class_names(taxonomy, path):
    try:
        parents = {node['parentId'] for node in taxonomy}
        return [node['nodeName'] for node in taxonomy if node['nodeId'] not in parents]
    except (TypeError, KeyError):
        raise UserError(f'{path}: "taxonomy" must be a list of objects with nodeId, parentId '
                        'and nodeName') from None


def missing_frames(video_dir):
    """Frame numbers missing on disk, from 1 to one past the last frame present."""
    numbers = frame_numbers(video_dir)
    last = max(numbers, default=0)
    if last - len(numbers) > len(numbers) + MAX_EXTRA_HOLES:
        raise DamagedFolder(video_dir, f'its frame numbers run to {FRAME_FILE.format(last)} '
                                       f'but it holds {len(numbers)} frames: remove the stray '
                                       'frames or extract the video again')
    have = np.zeros(last + 2, dtype=bool)
    have[numbers] = True
    return np.flatnonzero(~have[1:]) + 1


class ActivityNetLayout(Layout):
    name, title = 'activitynet', 'ActivityNet'
    stop_offset = 0
    drop_short = True

    def recognises(self, data):
        return isinstance(data.get('taxonomy'), list)

    def class_names(self, data, path):
        if not isinstance(data.get('taxonomy'), list):
            raise UserError(f'{path} has no "taxonomy" list (ActivityNet layout)')
        return leaf_class_names(data['taxonomy'], path)

    def read(self, data, subset, path):
        class_names = self.class_names(data, path)
        class_to_idx = {name: i for i, name in enumerate(class_names)}
        videos = []
        for key, value in subset_entries(data, subset, path):
            segments = []
            for annotation in value.get('annotations') or []:
                try:
                    label = annotation['label']
                    start, end = (float(t) for t in annotation['segment'])
                except (TypeError, KeyError, ValueError):
                    raise annotation_error(path, key, 'has an annotation without "label" and '
                                                      'a two-number "segment"') from None
                if not 0 <= start <= end <= MAX_SECONDS:
                    raise annotation_error(path, key, f'has the segment {[start, end]}: it '
                                                      f'must run forwards within 0 to '
                                                      f'{MAX_SECONDS} seconds')
                if label not in class_to_idx:
                    raise annotation_error(path, key, f'has label {label!r}, which is not a '
                                                      'leaf of "taxonomy"')
                segments.append((class_to_idx[label], start, end))
            videos.append(Video(f'v_{key}', key, segments[0][0] if segments else -1,
                                tuple(segments)))
        return class_names, videos

    def labels_of(self, entry):
        annotations = entry.get('annotations')
        if not isinstance(annotations, list):
            return set()
        return {a['label'] for a in annotations if isinstance(a, dict) and 'label' in a}

    def spans(self, record, video_dir, untrimmed=False):
        if not os.path.isdir(video_dir):
            return None
        holes = missing_frames(video_dir).tolist()
        if untrimmed:
            return self.untrimmed_spans(record, holes[-1] - 1), holes
        fps = read_number(os.path.join(video_dir, 'fps'), 'frame rate')
        if fps is None:
            raise UserError(f'{video_dir} has no fps file: write it with utils_scripts/fps.py')
        return self.segment_spans(record, fps), holes

    def spans_of_video(self, record, n_frames, fps, untrimmed=False):
        if untrimmed:
            return self.untrimmed_spans(record, n_frames), [n_frames + 1]
        return self.segment_spans(record, fps), [n_frames + 1]

    def spans_of_entries(self, record, n_entries):
        raise UserError('ActivityNet\'s segments are in seconds and HDF5 files hold no frame '
                        'rate: give frame folders (with their fps files) or video files')

    @staticmethod
    def untrimmed_spans(record, last):
        # Frames 1 to the last one, end exclusive at `last` as in the reference's windows.
        return [(record.label, 1, last)] if last > 0 else []

    @staticmethod
    def segment_spans(record, fps):
        return [(label, max(1, math.ceil(start * fps)), math.ceil(end * fps))
                for label, start, end in record.segments]
