"""Every clip of a list of videos (files, frame folders or HDF5 files), in order, for
inference.

Each video gives windows of `duration` frames starting at frames 1, 1 + stride, ... while
the start is below its number of frames (at least one window), the last loop-padded, as
main.py's test pass takes them. A video is read once, in order, holding only the frames of
the windows not yet complete, so memory does not depend on its length.

A frame folder's (or an HDF5 file's) clips are made by the native clip core where it is
built, one call a window (the same tensors; native/), and by PIL from the first window the
core leaves to it.

The stream runs in DataLoader workers: each worker reads whole videos, and batches mix the
clips of consecutive videos. A video that cannot be read yields one error item after the
clips it gave, and the stream goes on with the next one.
"""
import os
from typing import NamedTuple

import torch
from PIL import Image

import native
from datasets.names import frame_numbers, frame_path
from datasets.annotations import read_number
from datasets.decoding_errors import VideoError
from datasets.hdf5_videos import HDF5_EXTENSION, count_frames, hdf5_frames, read_entries
from datasets.jpeg_frames import pil_loader
from datasets.video_files import VideoFile, resampled
from datasets.videodataset import transform_clip
from temporal_transforms import LoopPadding, n_windows
from utils import UserError, one_line


class Source(NamedTuple):
    """One input video: its output name, its path, and whether it is a folder of frames
    (otherwise a video file, or an HDF5 file by its extension)."""
    name: str
    path: str
    is_frame_folder: bool


class ClipItem(NamedTuple):
    clip: torch.Tensor | None  # C x T x H x W; None for an error item
    video: int  # index into the stream's sources
    index: int  # of the clip in its video, from 0
    n_clips: int  # of its video
    first: int  # frame numbers (from 1) the window covers, before loop padding
    last: int
    fps: float  # of the frames the numbers count (0 if unknown: a frame folder)
    error: str | None = None


def window_starts(n_frames, stride):
    """Frame numbers (from 1) where clips start: below n_frames, and at least frame 1."""
    return range(1, 1 + stride * int(n_windows(1, n_frames, stride)), stride)


def default_windows(n_frames, duration, stride):
    """(first, last) frame numbers of the windows main.py's test pass takes."""
    return [(start, min(start + duration - 1, n_frames))
            for start in window_starts(n_frames, stride)]


class ClipStream(torch.utils.data.IterableDataset):
    """The clips of `sources` (a list of Source), prepared by `spatial_transform` as the test
    pass prepares them. `videos`: the indices into `sources` this stream reads (a rank's
    share); loader workers split them further."""

    def __init__(self, sources, spatial_transform, duration, stride, fps=None, videos=None,
                 windows=None, flow=False):
        self.sources = sources
        # (n_frames, duration, stride) -> [(first, last), ...]: the recipe's windows
        self.windows = windows or default_windows
        self.spatial_transform = spatial_transform
        self.duration, self.stride, self.fps = duration, stride, fps
        self.videos = list(range(len(sources)) if videos is None else videos)
        self.flow = flow  # HDF5 files' flow frames (the 2020 release's --input_type flow)

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        mine = self.videos if worker is None else self.videos[worker.id::worker.num_workers]
        for video in mine:
            source = self.sources[video]
            try:
                if not os.path.exists(source.path):
                    raise VideoError(source.path, 'not found')
                reader = self.reader(source)
                yield from self.clips(video, reader)
            except (VideoError, UserError, OSError) as e:
                yield ClipItem(None, video, -1, 0, 0, 0, 0.0, one_line(e))

    def reader(self, source):
        if source.is_frame_folder:
            return FrameFolder(source.path, self.fps)
        if source.path.lower().endswith(HDF5_EXTENSION):
            return HDF5Video(source.path, self.fps, self.flow)
        return VideoFile(source.path, self.fps)

    def clips(self, video, reader):
        windows = self.windows(reader.n_frames, self.duration, self.stride)
        if hasattr(reader, 'native_clip'):
            yield from self.native_clips(video, reader, windows)
            return
        yield from self.decoded_clips(video, reader, windows)

    def native_clips(self, video, reader, windows):
        """A frame folder's (or HDF5 file's) clips made by the native core, one call a window
        (the same tensors); from the first window it leaves to Python (or where it is not
        built) on, the frames are decoded here."""
        plan = native.plan_of(self.spatial_transform)
        pad = LoopPadding(self.duration)
        for k, (first, last) in enumerate(windows):
            numbers = pad(list(range(first, last + 1)))
            clip = None if plan is None else reader.native_clip(numbers, plan)
            if clip is None:
                yield from self.decoded_clips(video, reader, windows, k)
                return
            yield ClipItem(clip, video, k, len(windows), first, last, reader.fps)

    def decoded_clips(self, video, reader, windows, pending=0):
        """The clips of windows[pending:], the frames decoded once, in order."""
        pad = LoopPadding(self.duration)
        held = {}  # frame number -> PIL image, for the windows still pending
        for number, frame in reader.frames(last=windows[-1][1]):
            if number < windows[pending][0]:
                continue  # between windows (a stride longer than a clip)
            held[number] = pil_loader(frame) if isinstance(frame, str) else frame \
                if isinstance(frame, Image.Image) else Image.fromarray(frame)
            while pending < len(windows) and windows[pending][1] == number:
                first, last = windows[pending]
                frames = [held[i] for i in pad(list(range(first, last + 1)))]
                clip = transform_clip(self.spatial_transform, frames)
                yield ClipItem(clip, video, pending, len(windows), first, last, reader.fps)
                pending += 1
                if pending < len(windows):
                    for old in [i for i in held if i < windows[pending][0]]:
                        del held[old]


class FrameFolder:
    """A folder of image_00001.jpg ...: as many frames as its n_frames file says (or, without
    one, up to the largest frame number), resampled to `fps` if its `fps` file gives its own
    rate. `frames()` yields their paths: only the frames a window needs are decoded."""

    def __init__(self, path, fps=None):
        self.path = path
        n = read_number(os.path.join(path, 'n_frames'), 'number of frames')
        n_source = int(n) if n is not None else max(frame_numbers(path), default=0)
        if n_source < 1:
            raise VideoError(path, 'the frame folder has no frames')
        source_fps = read_number(os.path.join(path, 'fps'), 'frame rate') or 0.0
        if fps and not source_fps > 0:
            raise VideoError(path, 'the frame folder has no fps file, so --fps cannot '
                                   'resample it')
        self.source_index = resampled(n_source, source_fps, fps)
        self.fps = float(fps or source_fps)
        self.n_frames = len(self.source_index)

    def frame_file(self, number):
        """The file of frame `number` (from 1) after resampling."""
        return frame_path(self.path, int(self.source_index[number - 1]) + 1)

    def native_clip(self, numbers, plan):
        return native.clip_from_jpegs([self.frame_file(i) for i in numbers], numbers, plan)

    def frames(self, last=None):
        for k in range(min(last or self.n_frames, self.n_frames)):
            yield k + 1, self.frame_file(k + 1)


class HDF5Video:
    """An HDF5 file of the 2020 release's (datasets/hdf5_videos.py): its entries are frames
    1, 2, ... here, RGB or (`flow`) merged from u and v; `frames()` yields PIL images, read
    a few at a time."""
    fps = 0.0
    CHUNK = 64

    def __init__(self, path, fps=None, flow=False):
        if fps:
            raise VideoError(path, 'an HDF5 file holds no frame rate, so --fps cannot '
                                   'resample it')
        self.path, self.flow = path, flow
        self.n_frames, *_, error = count_frames(path, flow)
        if error:
            raise VideoError(path, error)
        if self.n_frames < 1:
            raise VideoError(path, 'the file has no frames')

    def native_clip(self, numbers, plan):
        if self.flow:  # (merged in Python)
            return None
        entries = read_entries(self.path, numbers, 1)
        return native.clip_from_buffers([entries[i][0] for i in numbers], numbers, plan)

    def frames(self, last=None):
        stop = min(last or self.n_frames, self.n_frames)
        for first in range(1, stop + 1, self.CHUNK):
            numbers = list(range(first, min(first + self.CHUNK, stop + 1)))
            yield from zip(numbers, hdf5_frames(self.path, numbers, 1, self.flow))


def collate(items):
    """(clips as one N x C x T x H x W tensor or None, their ClipItems without tensors, the
    error items)."""
    good = [item for item in items if item.error is None]
    errors = [item for item in items if item.error is not None]
    clips = torch.stack([item.clip for item in good]) if good else None
    return clips, [item._replace(clip=None) for item in good], errors
