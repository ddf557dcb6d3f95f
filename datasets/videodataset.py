"""The dataset: the clips of the videos an annotation file lists, as a layout (layout.py)
reads them, over folders of JPEG frames or video files in the same layout; and how a clip is
loaded, transformed and batched (docs/data.md).

Reading annotations (annotations.py and the layouts), sampling (clip_index.py), the video
files' index (video_index.py) and decoding (jpeg_frames.py, video_files.py) each have
their own module; this one puts them together.
"""
import functools
import os
import sys
from typing import NamedTuple

import numpy as np
import torch

import native
from random_state import random_states, set_random_states
from datasets.annotations import DamagedFolder, load_annotation
from datasets.clip_index import make_samples
from datasets.decoding_errors import DamagedFrame
from datasets.hdf5_videos import HDF5_EXTENSION, count_frames, hdf5_frames, read_entries
from datasets.jpeg_frames import (get_default_video_loader, jpeg_decoder, tensor_video_loader,
                                  video_loader)
from datasets.video_files import video_file_loader, video_file_pil_loader
from datasets.names import frame_path
from datasets.registry import DATASETS
from datasets.string_table import StringTable
from datasets.video_index import find_video_files, index_videos, input_kind
from utils import UserError


MIXED_SAMPLE = 200  # skipped videos looked for as the other kind
# A video file with a shorter side is refused when indexed: its training crops (a fraction of
# the shorter side) would be empty or a pixel or two.
MIN_FRAME_SIDE = 8


class VideoDataset(torch.utils.data.Dataset):
    """Clips of frame folders (or of video files where `video_path` holds those, their
    frame counts and rates from datasets/video_index.py), as `layout`'s annotation file
    lists them.

    n_samples_for_each_video: 1 -> one sample per span covering all its frames; n > 1 -> n
    clips spread over the span; 0 -> consecutive windows of sample_duration (clip_index.py).
    `untrimmed`: a video is one span, whatever its segments (ActivityNet's test pass).
    `skip_damaged`: a clip with a damaged frame comes back as a DamagedClip (which
    collate_skipping_damaged leaves out of its batch) instead of raising DamagedFrame.
    `clip_windows(begin, end)` -> [(start, length)]: where a span's clips lie, in place of
    n_samples_for_each_video's (the 2020 release's validation and inference windows).
    `input_format`: 'frames', 'videos', 'hdf5' (one HDF5 file a video, datasets/hdf5_videos.py)
    or 'auto' (what the video folder holds); `flow`: the HDF5 files' flow frames.
    """

    def __init__(self, layout, video_path, annotation_path, subset,
                 n_samples_for_each_video=1, spatial_transform=None, temporal_transform=None,
                 target_transform=None, sample_duration=16, get_loader=get_default_video_loader,
                 purpose=None, input_format='auto', untrimmed=False, skip_damaged=False,
                 clip_windows=None, flow=False):
        self.layout = layout
        self.video_path = video_path
        # What the set is built for (training, validation, test): the test pass may read the
        # validation subset, and messages name both.
        self.purpose = purpose
        self.annotation_path = annotation_path
        self.subset = subset
        self.sample_duration = sample_duration
        self.spatial_transform = spatial_transform
        self.temporal_transform = temporal_transform
        self.target_transform = target_transform
        self.loader = get_loader()
        self.untrimmed = untrimmed
        self.skip_damaged = skip_damaged
        self.clip_windows = clip_windows
        self.flow = flow
        if not os.path.isdir(video_path):
            raise UserError(f'video folder not found: {video_path} (check --video_path and '
                            '--root_path)')
        data = load_annotation(annotation_path)
        self.class_names, records = layout.read(data, subset, annotation_path)
        if not records:
            raise UserError(f'{annotation_path} has no videos in its {subset} subset' + (
                f': {layout.no_testing_subset}' if subset == 'testing' else ''))
        video_facts = self._video_facts(records, input_format)
        self._build(records, video_facts, n_samples_for_each_video)

    def _video_facts(self, records, input_format):
        """{record folder: (video or HDF5 file, n_frames, fps, width, height, by_time, error)}
        when the
        video folder holds those (found by looking, or as `input_format` says); None for
        frame folders."""
        names = [record.folder for record in records]
        if input_format == 'auto':
            input_format = input_kind(self.video_path, names) or 'frames'
        self.input_format = input_format
        if input_format == 'frames':
            return None
        if input_format == 'hdf5':
            files = find_video_files(self.video_path, names, (HDF5_EXTENSION,))
            counts = index_videos(files, self.video_path, self.annotation_path,
                                  read=functools.partial(count_frames, flow=self.flow),
                                  kind='flow' if self.flow else 'hdf5')
        else:
            files = find_video_files(self.video_path, names)
            counts = index_videos(files, self.video_path, self.annotation_path)
        return {name: (files[name],) + counts[name] for name in files}

    # -- index -------------------------------------------------------------------------

    def _build(self, records, video_facts, n_samples):
        folders, video_ids, frame_sizes, by_time = [], [], [], []
        spans = []  # (video, label, begin, end)
        holes = []  # video << 32 | missing frame number, ascending
        self.n_missing = self.n_empty = 0
        self.damaged_folders = []
        self.past_end = []  # (record folder, frames its segment asks past the file's end)
        missing = []  # record folders with nothing on disk
        self.skipped_videos = []  # (record folder, why) of the videos left out
        root = os.path.join(self.video_path, '')
        for record in records:
            try:
                found, where, frame_size, seeks = self._spans_on_disk(record, root,
                                                                      video_facts)
            except DamagedFolder as e:
                self.damaged_folders.append(e)
                self.skipped_videos.append((record.folder, e.reason))
                continue
            if found is None:
                self.n_missing += 1
                missing.append(record.folder)
                self.skipped_videos.append((record.folder, 'not found'))
            elif not found[0]:
                self.n_empty += 1
                self.skipped_videos.append((record.folder, 'no frames'))
            else:
                video = len(folders)
                spans.extend((video,) + s for s in found[0])
                holes.extend(video << 32 | h for h in found[1])
                folders.append(where)
                video_ids.append(record.video_id)
                frame_sizes.append(frame_size)
                by_time.append(seeks)
        self._report_skipped(len(records), missing)
        self.folders = StringTable(folders)
        self.video_ids = StringTable(video_ids)
        # (width, height) of each video file's frames: a training clip decodes only its crop.
        self.frame_sizes = np.array(frame_sizes, dtype=np.int32).reshape(-1, 2)
        # Whether each video file can be sought by time (the faster way) and still give the
        # frames the index counted (datasets/video_files.py, OpenVideo).
        self.seeks_by_time = np.array(by_time, dtype=bool)
        columns = np.array(spans, dtype=np.int32).reshape(-1, 4).T
        self.span_video, self.span_label, self.span_begin, self.span_end = (
            np.ascontiguousarray(c) for c in columns)
        self.sample_span, self.sample_start, self.sample_length = make_samples(
            self.span_video, self.span_begin, self.span_end, np.array(holes, dtype=np.int64),
            n_samples, self.sample_duration, self.layout.stop_offset, self.layout.drop_short,
            self.clip_windows)
        if len(self) == 0:
            raise UserError(f'no usable video in {self.annotation_path} ({self.described}) '
                            f'under {self.video_path}: check --video_path, --annotation_path, ' +
                            {'videos': 'and the video files', 'hdf5': 'and the HDF5 files'}.get(
                                self.input_format, 'the frame folders and their n_frames files'))

    def _spans_on_disk(self, record, root, video_facts):
        """(spans and holes as the layout gives them, or None when absent; the frame folder
        or video file, relative to the video folder; a video file's frame size, (0, 0) for
        a frame folder; whether a video file can be sought by time)."""
        if video_facts is None:
            return (self.layout.spans(record, os.path.join(root, record.folder),
                                      self.untrimmed),
                    record.folder, (0, 0), False)
        if record.folder not in video_facts:
            return None, None, None, False
        path, n_frames, fps, width, height, by_time, error = video_facts[record.folder]
        if error:
            raise DamagedFolder(path, error)
        if self.input_format == 'hdf5':
            spans, holes, past = self.layout.spans_of_entries(record, n_frames)
            if past:
                self.past_end.append((record.folder, past))
            return (spans, holes), os.path.relpath(path, root), (0, 0), False
        if 0 < min(width, height) < MIN_FRAME_SIDE:
            raise DamagedFolder(path, f'its frames are {width}x{height} pixels, too small to '
                                      'crop clips from: drop it from the annotation file')
        return (self.layout.spans_of_video(record, n_frames, fps, self.untrimmed),
                os.path.relpath(path, root), (width, height), by_time)

    def _report_skipped(self, n_records, missing):
        if self.past_end:
            (folder, past), n = self.past_end[0], len(self.past_end)
            print(f'warning: {self.annotation_path} ({self.described}): the segments of {n} '
                  f'video{"s" if n > 1 else ""} end past their HDF5 file\'s last frame (the '
                  f'first: {folder}, by {past}); their clips stop at the last frame. Frames '
                  f'of HDF5 files are numbered from {self.layout.hdf5_first_number}: '
                  'utils_scripts/*_json.py --video_type hdf5 writes such segments',
                  file=sys.stderr)
        if self.n_missing or self.n_empty:
            kind = {'videos': 'video file', 'hdf5': 'HDF5 file'}.get(self.input_format,
                                                                      'frame folder')
            names = [name for name, why in self.skipped_videos if why in ('not found',
                                                                          'no frames')]
            shown = ', '.join(names[:3]) + (f' and {len(names) - 3} more' if len(names) > 3
                                            else '')
            print(f'{self.annotation_path} ({self.described}): skipped {self.n_missing} of '
                  f'{n_records} videos with no {kind} under {self.video_path}'
                  + (f' and {self.n_empty} with no frames' if self.n_empty else '')
                  + f': {shown}')
            if self.input_format != 'hdf5':
                self._say_if_mixed(missing[:MIXED_SAMPLE], kind)
        for e in self.damaged_folders[:5]:
            print(f'skipped {e}', file=sys.stderr)
        if len(self.damaged_folders) > 5:
            print(f'skipped {len(self.damaged_folders) - 5} more damaged videos',
                  file=sys.stderr)

    def _say_if_mixed(self, missing, kind):
        """A line when videos skipped for want of a `kind` are there as the other kind: the
        folder mixes frame folders and video files, and a run reads one kind."""
        if self.input_format == 'videos':
            other = sum(os.path.isdir(os.path.join(self.video_path, name)) for name in missing)
        else:
            other = len(find_video_files(self.video_path, missing))
        if other:
            found = 'frame folders' if self.input_format == 'videos' else 'video files'
            print(f'warning: {other} of the first {len(missing)} skipped are {found}: '
                  f'{self.video_path} mixes frame folders and video files, and this run reads '
                  f'{kind}s only (--input_format {self.input_format}); keep one kind '
                  '(utils_scripts/video_jpg*.py extracts frames) or pass --input_format',
                  file=sys.stderr)

    @property
    def described(self):
        """'validation subset, for the test pass' or, when they agree, 'validation subset'."""
        if self.purpose is None or self.purpose == self.subset:
            return f'{self.subset} subset'
        return f'{self.subset} subset, for the {self.purpose} pass'

    @property
    def index_nbytes(self):
        """Memory held by the index."""
        arrays = [a for a in vars(self).values() if isinstance(a, np.ndarray)]
        return sum(a.nbytes for a in arrays) + self.folders.nbytes + self.video_ids.nbytes

    # -- items -------------------------------------------------------------------------

    def __len__(self):
        return len(self.sample_span)

    def video_dir(self, index):
        return os.path.join(self.video_path,
                            self.folders[self.span_video[self.sample_span[index]]])

    def target_record(self, index):
        """The annotation record of a sample, as the reference's target transforms see it."""
        s = self.sample_span[index]
        start = int(self.sample_start[index])
        return {'video': self.video_dir(index), 'label': int(self.span_label[s]),
                'video_id': self.video_ids[self.span_video[s]],
                'segment': [int(self.span_begin[s]),
                            int(self.span_end[s]) - self.layout.stop_offset],
                'frame_indices': list(range(start, start + int(self.sample_length[index])))}

    def decodes_to_tensors(self):
        """Whether clips take the decoded-tensor path (a transform that takes tensor frames;
        the default loader; torchcodec present) rather than PIL frames."""
        if not getattr(self.spatial_transform, 'takes_tensor_frames', False):
            return False
        return self.input_format in ('videos', 'hdf5') or (self.loader is video_loader and
                                                           jpeg_decoder() is not None)

    def clip_loader(self, index):
        """(loader(path, frame numbers) -> frames, whether it keeps only the crop box) for a
        sample, its spatial transform's random parameters drawn already."""
        tensors = self.decodes_to_tensors()
        if self.input_format == 'hdf5':
            return functools.partial(hdf5_frames, first_number=self.layout.hdf5_first_number,
                                     flow=self.flow, tensors=tensors), False
        if self.input_format == 'frames':
            return (tensor_video_loader if tensors else self.loader), False
        video = self.span_video[self.sample_span[index]]
        by_time = bool(self.seeks_by_time[video])
        if not tensors:
            return functools.partial(video_file_pil_loader, by_time=by_time), False
        width, height = self.frame_sizes[video]
        if not (width and height):  # unknown (0) where the container does not say
            return functools.partial(video_file_loader, by_time=by_time), False
        box = self.spatial_transform.decoder_crop_box(int(width), int(height))
        return (functools.partial(video_file_loader, box=box, by_time=by_time),
                box is not None)

    def native_clip(self, video_dir, frame_indices):
        """A training clip of JPEG frames made by the native core in one call (the same
        tensor as the Python path), or None: the Python path makes it (no core, not a
        training transform, a frame the core leaves to it: damaged, progressive, ...)."""
        if self.input_format not in ('frames', 'hdf5') or self.loader is not video_loader:
            return None  # video files, or a loader of one's own
        plan = native.plan_of(self.spatial_transform)
        if plan is None:
            return None
        if self.input_format == 'hdf5':
            return self.native_hdf5_clip(video_dir, frame_indices, plan)
        return native.clip_from_jpegs([frame_path(video_dir, i) for i in frame_indices],
                                      frame_indices, plan)

    def native_hdf5_clip(self, path, frame_indices, plan):
        """The same from an HDF5 file's JPEG bytes (flow frames are merged first: Python's);
        None where the Python path should read it (which names any damage)."""
        if self.flow:
            return None
        try:
            entries = read_entries(path, frame_indices, self.layout.hdf5_first_number)
        except DamagedFrame:
            return None
        return native.clip_from_buffers([entries[i][0] for i in frame_indices], frame_indices,
                                        plan)

    # A loader's position (torchdata's StatefulDataLoader asks each process that makes clips):
    # its random states, so that a run resumed mid-epoch draws the same crops and flips.
    def state_dict(self):
        return random_states(cuda=False)

    def load_state_dict(self, state):
        set_random_states(state)

    def __getitem__(self, index):
        record = self.target_record(index)
        frame_indices = record['frame_indices']
        if self.temporal_transform is not None:
            frame_indices = self.temporal_transform(frame_indices)
        randomize(self.spatial_transform)  # before decoding: a video decodes only the crop
        clip = self.native_clip(record['video'], frame_indices)
        if clip is None:
            loader, cropped = self.clip_loader(index)
            try:
                frames = loader(record['video'], frame_indices)
            except DamagedFrame as e:
                if not self.skip_damaged:
                    raise
                return DamagedClip(record['video'], record['video_id'], e.path, e.reason)
            clip = transform_clip(self.spatial_transform, frames, randomized=True,
                                  cropped=cropped)
        target = record if self.target_transform is None else self.target_transform(record)
        return clip, target


@functools.cache
def dataset_class(name):
    """The dataset class of a registered layout (`Kinetics`, `ActivityNet`, ...): a
    VideoDataset whose first argument is that layout, as the reference's classes were."""
    layout = DATASETS[name]
    return type(type(layout).__name__.removesuffix('Layout'), (VideoDataset,), {
        '__init__': functools.partialmethod(VideoDataset.__init__, layout),
        '__doc__': f'The {layout.title} layout\'s VideoDataset.'})


class DamagedClip(NamedTuple):
    """A clip left out because one of its frames is missing or cannot be decoded."""
    video_dir: str
    video_id: str
    frame: str
    reason: str


def collate_skipping_damaged(items):
    """(clips, targets, damaged clips) of a batch: the damaged ones are left out; clips and
    targets are None when none is left."""
    good = [item for item in items if not isinstance(item, DamagedClip)]
    damaged = [item for item in items if isinstance(item, DamagedClip)]
    if not good:
        return None, None, damaged
    clips, targets = torch.utils.data.default_collate(good)
    return clips, targets, damaged


def randomize(spatial_transform):
    """Draw a clip's random parameters (crop, flip), once for all its frames."""
    if hasattr(spatial_transform, 'randomize_parameters'):
        spatial_transform.randomize_parameters()


def transform_clip(spatial_transform, frames, randomized=False, cropped=False):
    """A clip's frames (PIL images or tensor frames) -> C x T x H x W tensor through the
    spatial transform's apply_clip (the one protocol: spatial_transforms.py), its random
    parameters drawn here unless `randomized`; `cropped`: the decoder kept only the
    transform's crop of each frame."""
    if spatial_transform is None:
        from spatial_transforms import ToTensor
        spatial_transform = ToTensor(1)
    if not randomized:
        randomize(spatial_transform)
    clip = spatial_transform.apply_clip(frames, cropped=True) if cropped else \
        spatial_transform.apply_clip(frames)
    if isinstance(clip, torch.Tensor):
        return clip
    return torch.stack(clip, 0).permute(1, 0, 2, 3)  # per-frame tensors, T x C x H x W
