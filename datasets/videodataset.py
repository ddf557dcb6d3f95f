"""The dataset core: an index of clips over folders of JPEG frames (or video files in the same
layout), and clip loading.

A layout (kinetics.py, ucf101.py, hmdb51.py, activitynet.py) only reads its annotation file
into class names and per-video records; this module turns them into samples
(docs/data.md) and loads clips.

The index is a handful of numpy arrays, not a Python object per clip: a Kinetics-700 index
costs megabytes, builds fast, and is shared by DataLoader workers without copy-on-write
growth (reading a numpy array does not touch Python reference counts).

    span    a stretch of one video that clips are taken from: a whole video (kinetics,
            ucf101, hmdb51) or an annotated segment (activitynet). Arrays `span_*`.
    sample  one item of the dataset: a span and a run of frame numbers
            [start, start + length). Arrays `sample_*`.
"""
import functools
import json
import math
import os
import sys
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from datasets.names import frame_path
from datasets.string_table import StringTable
from datasets.video_files import CHUNK, box_crop, decoding_failure
from datasets.video_index import find_video_files, holds_videos, index_videos
from temporal_transforms import n_windows
from utils import UserError, one_line


class Video(NamedTuple):
    """A video as an annotation file lists it."""
    folder: str  # relative to the video folder
    video_id: str
    label: int  # class index, -1 without a label
    segments: tuple = ()  # activitynet: (label, start_s, end_s) per annotated segment


def annotation_error(path, key, what):
    return UserError(f'{path}: database entry {key!r} {what}')


def subset_entries(data, subset, path):
    """(key, entry) of the annotation database entries of `subset`, in file order."""
    for key, value in data['database'].items():
        if not isinstance(value, dict):
            raise annotation_error(path, key, 'is not an object')
        if value.get('subset') == subset:
            yield key, value


def load_annotation(path):
    """Read an annotation JSON file; errors name the file and the position."""
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UserError(f'annotation file not found: {path} (check --annotation_path '
                        'and --root_path)') from None
    except IsADirectoryError:
        raise UserError(f'--annotation_path {path} is a folder, not a JSON file') from None
    except json.JSONDecodeError as e:
        raise UserError(f'{path} is not valid JSON: {e.msg} at line {e.lineno} column '
                        f'{e.colno}') from None
    except (ValueError, RecursionError) as e:  # a number of 5000 digits, deep nesting
        raise UserError(f'{path} is not an annotation file: {one_line(e, 120)}') from None
    except UnicodeDecodeError as e:
        raise UserError(f'{path} is not a UTF-8 text file (byte {e.start})') from None
    if not isinstance(data, dict) or not isinstance(data.get('database'), dict):
        raise UserError(f'{path} has no "database" object: is it an annotation file made '
                        'by utils_scripts/*_json.py (or ActivityNet\'s)?')
    return data


# Bounds of the numbers read from n_frames and fps files: ten million frames is 92 hours at
# 30 fps (more is a damaged file, and would make an index of gigabytes).
LIMITS = {'number of frames': 10_000_000, 'frame rate': 10_000}


def read_number(path, what):
    """The number in a small text file (`n_frames`, `fps`), at most LIMITS[what]; None if
    the file is absent."""
    try:  # os-level calls: this runs once per video of a Kinetics-size index
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        text = os.read(fd, 64).decode('utf-8', 'replace').strip()
    except IsADirectoryError:
        raise UserError(f'{path} is a folder, not a file holding the {what}: remove it and '
                        'regenerate it with utils_scripts/') from None
    finally:
        os.close(fd)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not abs(value) <= LIMITS[what]:  # also NaN
        raise UserError(f'{path} should hold the {what} (at most {LIMITS[what]}), found '
                        f'{text[:40]!r}: regenerate it with utils_scripts/')
    return value


class DamagedFolder(Exception):
    """A frame folder that cannot be indexed: the video is skipped and named."""

    def __init__(self, video_dir, reason):
        self.video_dir, self.reason = video_dir, reason
        super().__init__(f'{video_dir}: {reason}')


class DamagedFrame(UserError):
    """A frame that is missing or cannot be decoded: `reason` is 'missing' or 'corrupt
    (what the decoder said)'."""

    def __init__(self, path, kind, detail='', advice='extract the frames of this video again '
                 '(utils_scripts/video_jpg*.py, then n_frames*.py)'):
        self.path, self.reason = path, f'{kind} ({detail})' if detail else kind
        super().__init__(f'{kind} frame {path}' + (f' ({detail})' if detail else '') +
                         f': {advice} or drop it from the annotation file')


def pil_loader(path):
    """Decode one frame to RGB, naming the file when it is missing or damaged."""
    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise DamagedFrame(path, 'missing') from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        # PIL's messages repeat the path: the line names it once.
        raise DamagedFrame(path, 'corrupt', one_line(e, 200).replace(f" '{path}'", '')
                           .replace(path, os.path.basename(path))) from None
    return img if img.mode == 'RGB' else img.convert('RGB')


def video_loader(video_dir, frame_indices, image_loader=pil_loader):
    """The frames of a clip; a frame repeated by loop padding is decoded once."""
    decoded = {}
    clip = []
    for i in frame_indices:
        if i not in decoded:
            decoded[i] = image_loader(frame_path(video_dir, i))
        clip.append(decoded[i])
    return clip


def get_default_video_loader():
    return video_loader


def decode_video_frames(path, frame_indices, box=None, convert=None):
    """{frame number: H x W x C uint8 frame (a view of the decoder's batch), or what
    `convert` makes of it} for a clip of a video file, only `box` (left, top, right, bottom)
    of each frame if given. torchcodec seeks to the key frame before the first and decodes
    forward; the file stays open in this process for the next clip of the same video and
    box (the test pass's windows come in order)."""
    global _open_video
    unique = sorted(set(frame_indices))
    frames = {}
    try:
        if _open_video[0] != (path, box):
            from torchcodec.decoders import VideoDecoder
            _open_video = (None, None)
            crop = None if box is None else [box_crop(box)]
            _open_video = ((path, box), VideoDecoder(
                path, dimension_order='NHWC', num_ffmpeg_threads=1, seek_mode='approximate',
                transforms=crop))
        decoder = _open_video[1]
        if unique[-1] - unique[0] + 1 == len(unique):  # consecutive: the usual clip
            # A chunk at a time, each converted while it is still in the core's cache
            # (measured: a test clip's PIL images 0.6 ms sooner than from one call).
            for k in range(0, len(unique), CHUNK):
                part = unique[k:k + CHUNK]
                batch = decoder.get_frames_in_range(part[0] - 1, part[-1]).data
                frames.update(zip(part, map(convert, batch) if convert else batch))
        else:
            batch = decoder.get_frames_at([i - 1 for i in unique]).data
            frames.update(zip(unique, map(convert, batch) if convert else batch))
    except Exception as e:  # FFmpeg's errors come as RuntimeError, ValueError, IndexError...
        _open_video = (None, None)
        raise DamagedFrame(f'{path} (frames {unique[0]}-{unique[-1]})', 'corrupt',
                           decoding_failure(e),
                           'replace this video (utils_scripts/video_reencode.py)') from None
    return frames


_open_video = (None, None)


def video_file_loader(path, frame_indices, box=None):
    """The frames of a clip from a video file (only `box` of each if given), as C x H x W
    uint8 tensors (views of the decoder's H x W x C frames, as tensor_video_loader gives
    them)."""
    by_number = decode_video_frames(path, frame_indices, box)
    return [by_number[i].permute(2, 0, 1) for i in frame_indices]


def video_file_pil_loader(path, frame_indices):
    """The frames of a clip from a video file as PIL images, for the PIL transforms."""
    images = decode_video_frames(path, frame_indices,
                                 convert=lambda frame: Image.fromarray(frame.numpy()))
    return [images[i] for i in frame_indices]


def jpeg_decoder():
    """torchcodec's JPEG decoder (libjpeg-turbo, as PIL's: the same pixels), or None where
    torchcodec cannot be loaded; imported on first use, in the process that decodes."""
    global _decode_jpeg
    if _decode_jpeg is None:
        try:
            from torchcodec.decoders import decode_jpeg
        except (ImportError, OSError, RuntimeError):  # missing, or FFmpeg libraries missing
            decode_jpeg = False
        _decode_jpeg = decode_jpeg
    return _decode_jpeg or None


_decode_jpeg = None


def tensor_video_loader(video_dir, frame_indices):
    """The frames of a clip as C x H x W uint8 tensors, each frame decoded once. A frame the
    JPEG decoder refuses goes to PIL, which reads what it can (other formats under a .jpg
    name) and names the damage as video_loader does."""
    decode_jpeg = jpeg_decoder()
    unique = list(dict.fromkeys(frame_indices))
    paths = [frame_path(video_dir, i) for i in unique]
    try:
        decoded = decode_jpeg(paths)  # one call for the clip: less Python per frame
    except (RuntimeError, OSError, ValueError):
        decoded = [decode_one_frame(decode_jpeg, path) for path in paths]
    by_number = dict(zip(unique, decoded))
    return [by_number[i] for i in frame_indices]


def decode_one_frame(decode_jpeg, path):
    try:
        return decode_jpeg(path)
    except (RuntimeError, OSError, ValueError):
        frame = np.asarray(pil_loader(path))
        return torch.from_numpy(frame.copy()).permute(2, 0, 1)


def ceil_div(a, b):
    return -(-a // b)


class VideoDataset(torch.utils.data.Dataset):
    """Clips of frame folders (or of video files where `--video_path` holds those, their
    frame counts and rates from datasets/video_index.py), as a layout's annotation file
    lists them.

    n_samples_for_each_video: 1 -> one sample per span covering all its frames (training;
    validation with one clip takes the centre by its temporal transform); n > 1 -> n clips
    spread over the span (validation); 0 -> consecutive windows of sample_duration (test).

    Subclasses provide `read(data, subset)`, returning class names and a list of `Video`
    records, and `spans(record, video_dir)`, returning (spans, holes): the record's spans
    as (label, begin, end) with `end` exclusive, and the frame numbers >= 1 missing on disk
    up to and including the one after the last frame; or None for a video absent on disk;
    and `spans_of_video(record, n_frames, fps)`, the same for a video file of `n_frames`
    frames at `fps` (none missing). See kinetics.py and activitynet.py.
    """
    # Clip starts stop this many frames before a span's end: kinetics' windows start below
    # n_frames (range(1, n_frames, step)), activitynet's below the segment's end.
    stop_offset = 1
    # Drop clips (and spans) with fewer than sample_duration frames on disk.
    drop_short = False
    # main.py sets it: a clip with a damaged frame then comes back as a DamagedClip (which
    # collate_skipping_damaged leaves out of its batch) instead of raising DamagedFrame.
    skip_damaged = False

    def __init__(self, root_path, annotation_path, subset, n_samples_for_each_video=1,
                 spatial_transform=None, temporal_transform=None, target_transform=None,
                 sample_duration=16, get_loader=get_default_video_loader, purpose=None,
                 input_format='auto'):
        self.root_path = root_path
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
        if not os.path.isdir(root_path):
            raise UserError(f'video folder not found: {root_path} (check --video_path and '
                            '--root_path)')
        data = load_annotation(annotation_path)
        self.class_names, records = self.read(data, subset)
        if not records:
            raise UserError(f'{annotation_path} has no videos in its {subset} subset' + (
                ': UCF-101 and HMDB-51 have none (their test lists are the validation subset);'
                ' use --test_subset val' if subset == 'testing' else ''))
        self.video_facts = self._video_facts(records, input_format)
        self._build(records, n_samples_for_each_video)
        self.video_facts = None  # a dict per video: not to be copied into loader workers

    def _video_facts(self, records, input_format):
        """{record folder: (video file, n_frames, fps, width, height, error)} when the video
        folder holds video files (found by looking, or `input_format` 'videos'); None for
        frame folders."""
        names = [record.folder for record in records]
        if input_format == 'auto':
            input_format = 'videos' if holds_videos(self.root_path, names) else 'frames'
        self.input_format = input_format
        if input_format == 'frames':
            return None
        files = find_video_files(self.root_path, names)
        counts = index_videos(files, self.root_path, self.annotation_path)
        return {name: (files[name],) + counts[name] for name in files}

    # -- index -------------------------------------------------------------------------

    def _build(self, records, n_samples):
        folders, video_ids, frame_sizes = [], [], []
        spans = []  # (video, label, begin, end)
        holes = []  # video << 32 | missing frame number, ascending
        self.n_missing = self.n_empty = 0
        self.damaged_folders = []
        root = os.path.join(self.root_path, '')
        for record in records:
            try:
                found, where, frame_size = self._spans_on_disk(record, root)
            except DamagedFolder as e:
                self.damaged_folders.append(e)
                continue
            if found is None:
                self.n_missing += 1
            elif not found[0]:
                self.n_empty += 1
            else:
                video = len(folders)
                spans.extend((video,) + s for s in found[0])
                holes.extend(video << 32 | h for h in found[1])
                folders.append(where)
                video_ids.append(record.video_id)
                frame_sizes.append(frame_size)
        if self.n_missing or self.n_empty:
            kind = 'video file' if self.input_format == 'videos' else 'frame folder'
            print(f'{self.annotation_path} ({self.described}): skipped {self.n_missing} of '
                  f'{len(records)} videos with no {kind} under {self.root_path}'
                  + (f' and {self.n_empty} with no frames' if self.n_empty else ''))
        for e in self.damaged_folders[:5]:
            print(f'skipped {e}', file=sys.stderr)
        if len(self.damaged_folders) > 5:
            print(f'skipped {len(self.damaged_folders) - 5} more damaged videos',
                  file=sys.stderr)
        self.folders = StringTable(folders)
        self.video_ids = StringTable(video_ids)
        # (width, height) of each video file's frames: a training clip decodes only its crop.
        self.frame_sizes = np.array(frame_sizes, dtype=np.int32).reshape(-1, 2)
        columns = np.array(spans, dtype=np.int32).reshape(-1, 4).T
        self.span_video, self.span_label, self.span_begin, self.span_end = (
            np.ascontiguousarray(c) for c in columns)
        self._make_samples(n_samples, np.array(holes, dtype=np.int64))
        if len(self) == 0:
            raise UserError(f'no usable video in {self.annotation_path} ({self.described}) '
                            f'under {self.root_path}: check --video_path, --annotation_path, ' +
                            ('and the video files' if self.input_format == 'videos' else
                             'the frame folders and their n_frames files'))

    def _spans_on_disk(self, record, root):
        """(spans and holes as `spans` gives them, or None when absent; the frame folder or
        video file, relative to the video folder; a video file's frame size, (0, 0) for a
        frame folder)."""
        if self.video_facts is None:
            return self.spans(record, f'{root}{record.folder}'), record.folder, (0, 0)
        if record.folder not in self.video_facts:
            return None, None, None
        path, n_frames, fps, width, height, error = self.video_facts[record.folder]
        if error:
            raise DamagedFolder(path, error)
        return (self.spans_of_video(record, n_frames, fps), os.path.relpath(path, root),
                (width, height))

    def _make_samples(self, n_samples, holes):
        d = self.sample_duration
        video = self.span_video.astype(np.int64)
        begin = self.span_begin.astype(np.int64)
        end = self.span_end.astype(np.int64)

        holes = np.append(holes, np.iinfo(np.int64).max)  # sentinel: no video's

        def frames_on_disk(span, start):
            """Frames from `start` up to the first one missing on disk (0 when `start` lies
            past the video's last frame: its holes end one past the last frame)."""
            first_hole = holes[np.searchsorted(holes, video[span] << 32 | start)]
            same_video = (first_hole >> 32) == video[span]
            return np.where(same_video, (first_hole & 0xFFFFFFFF) - start, 0)

        if n_samples == 1:  # one sample per span: all its frames
            span = np.arange(len(video))
            start = begin
            length = np.minimum(end - begin, frames_on_disk(span, begin))
        else:
            if n_samples > 1:
                n = end - begin
                step = np.maximum(1, ceil_div(n - 1 - d, n_samples - 1))
            else:
                step = np.full(len(video), d, dtype=np.int64)
            # A one-frame video has no start below its frame count: it still gets one
            # (loop-padded) clip rather than vanishing from the results.
            counts = np.where(end > begin, n_windows(begin, end - self.stop_offset, step), 0)
            span = np.repeat(np.arange(len(video)), counts)
            k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            start = begin[span] + k * step[span]
            length = np.minimum(d, frames_on_disk(span, start))
        keep = length >= (d if self.drop_short else 1)
        self.sample_span = span[keep].astype(np.int32)
        self.sample_start = start[keep].astype(np.int32)
        self.sample_length = length[keep].astype(np.int32)

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
        return os.path.join(self.root_path, self.folders[self.span_video[self.sample_span[index]]])

    def target_record(self, index):
        """The annotation record of a sample, as the reference's target transforms see it."""
        s = self.sample_span[index]
        start = int(self.sample_start[index])
        return {'video': self.video_dir(index), 'label': int(self.span_label[s]),
                'video_id': self.video_ids[self.span_video[s]],
                'segment': [int(self.span_begin[s]), int(self.span_end[s]) - self.stop_offset],
                'frame_indices': list(range(start, start + int(self.sample_length[index])))}

    def decodes_to_tensors(self):
        """Whether clips take the decoded-tensor path (training transforms; the default
        loader; torchcodec present) rather than PIL frames."""
        if not getattr(self.spatial_transform, 'takes_tensor_frames', False):
            return False
        return self.input_format == 'videos' or (self.loader is video_loader and
                                                 jpeg_decoder() is not None)

    def __getitem__(self, index):
        record = self.target_record(index)
        frame_indices = record['frame_indices']
        if self.temporal_transform is not None:
            frame_indices = self.temporal_transform(frame_indices)
        randomize(self.spatial_transform)  # before decoding: a video decodes only the crop
        tensors, crop_box = self.decodes_to_tensors(), None
        if self.input_format == 'frames':
            loader = tensor_video_loader if tensors else self.loader
        elif tensors:
            width, height = self.frame_sizes[self.span_video[self.sample_span[index]]]
            if width and height:  # unknown (0) where the container does not say
                crop_box = self.spatial_transform.decoder_crop_box(int(width), int(height))
            loader = functools.partial(video_file_loader, box=crop_box)
        else:
            loader = video_file_pil_loader
        try:
            frames = loader(record['video'], frame_indices)
        except DamagedFrame as e:
            if not self.skip_damaged:
                raise
            return DamagedClip(record['video'], record['video_id'], e.path, e.reason)
        clip = transform_clip(self.spatial_transform, frames, randomized=True,
                              cropped=crop_box is not None)
        target = record if self.target_transform is None else self.target_transform(record)
        return clip, target


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
    """Frames (PIL images, or uint8 tensors for a transform that takes them) -> C x T x H x W
    tensor through the spatial transform, its parameters drawn here unless `randomized`;
    `cropped`: the decoder kept only the transform's crop of each frame."""
    if spatial_transform is None:
        from spatial_transforms import ToTensor
        spatial_transform = ToTensor(1)
    if not randomized:
        randomize(spatial_transform)
    if isinstance(frames[0], torch.Tensor):  # decoded uint8 frames (tensor_video_loader)
        return spatial_transform.apply_tensor_frames(frames, cropped) if cropped else \
            spatial_transform.apply_tensor_frames(frames)
    if hasattr(spatial_transform, 'apply_clip'):
        clip = spatial_transform.apply_clip(frames)
        if isinstance(clip, torch.Tensor):
            return clip
    else:
        clip = [spatial_transform(frame) for frame in frames]
    return torch.stack(clip, 0).permute(1, 0, 2, 3)
