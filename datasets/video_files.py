"""Frames straight from video files, decoded by torchcodec (PyTorch's wrapper of FFmpeg's
decoders): read in order, a chunk at a time, so that memory does not grow with the video's
length, and optionally resampled to another frame rate.

Frames are numbered from 1, as the frame folders' `image_00001.jpg` are.
"""
import functools
import math
import re

import numpy as np

from utils import one_line

# What a folder search takes for a video file (a file named directly may have any extension).
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.webm', '.mkv', '.mov', '.m4v', '.mpg', '.mpeg', '.flv',
                    '.wmv', '.3gp', '.ts', '.ogv')
# Frames decoded per call: enough to amortise the call, few enough that a chunk is still in
# the core's cache when it is converted (240p: 2.5 MB of RGB; 720p: 0.5 ms a frame less than
# 32 at a time, measured) and that 4K video does not hold 800 MB.
CHUNK = 8


class VideoError(Exception):
    """A video that cannot be read; the message names the file and the reason, which
    `reason` holds alone."""

    def __init__(self, path, reason):
        super().__init__(f'{path}: {reason}')
        self.path, self.reason = path, reason


def decoding_failure(exc):
    """'cannot be decoded (FFmpeg's message)' for an exception from torchcodec, which prefixes
    the message with its own source location."""
    reason = re.sub(r'^\w+, \S+:\d+, ', '', one_line(exc))
    return f'cannot be decoded ({reason[:200]})'


def decoding_error(path, exc):
    return VideoError(path, decoding_failure(exc))


def box_crop(box):
    """A torchcodec decoder transform keeping `box` (left, top, right, bottom) of every
    frame. FFmpeg crops after converting to RGB, so the pixels are those of the whole frame's
    box, but only the box is copied out (measured alone: a random 16-frame training clip of
    240p video opened and decoded in 7.3 ms instead of 9.2)."""
    return _box_crop_class()(box)


@functools.cache
def _box_crop_class():
    from torchcodec.transforms import DecoderTransform  # only where videos are read

    class BoxCrop(DecoderTransform):
        # torchcodec's public crops are centred or randomly placed; its crop specification
        # also takes a place ("crop, height, width, left, top", what its RandomCrop writes
        # once it has drawn one). tests/test_video_files.py checks the pixels against a crop
        # of the whole frame, for the torchcodec version requirements.txt pins.
        def __init__(self, box):
            left, top, right, bottom = box
            self.place, self.size = (left, top), (bottom - top, right - left)

        def _make_transform_spec(self, input_dims):
            return f'crop, {self.size[0]}, {self.size[1]}, {self.place[0]}, {self.place[1]}'

        def _get_output_dims(self):
            return self.size

    return BoxCrop


def resampled(n_source, source_fps, fps=None):
    """The source frame (from 0) of each output frame when `n_source` frames at `source_fps`
    are resampled to `fps` (all of them, in order, without `fps`): output frame k shows what
    is on screen at time k / fps."""
    if not fps:
        return np.arange(n_source)
    n = max(1, math.ceil(n_source * fps / source_fps - 1e-9))
    return np.minimum(np.floor(np.arange(n) * (source_fps / fps) + 1e-9).astype(np.int64),
                      n_source - 1)


class VideoFile:
    """A video file's frames, in order, at its own frame rate or resampled to `fps`.

    `n_frames` and `fps` describe the frames `frames()` yields, `width` and `height` their
    size. Opening reads the container's index (no decoding); a file that is not a readable
    video raises VideoError.
    """

    def __init__(self, path, fps=None):
        from torchcodec.decoders import VideoDecoder  # only where videos are read
        self.path = path
        try:
            # 'exact': the frame count comes from scanning the file, not from its header.
            self.decoder = VideoDecoder(path, dimension_order='NHWC', num_ffmpeg_threads=1,
                                        seek_mode='exact')
            metadata = self.decoder.metadata
        except Exception as e:  # FFmpeg's errors arrive as RuntimeError, ValueError, ...
            raise decoding_error(path, e) from None
        n_source = metadata.num_frames or 0
        if n_source < 1:
            raise VideoError(path, 'the video stream has no frames')
        self.width, self.height = metadata.width or 0, metadata.height or 0
        self.source_fps = float(metadata.average_fps or 0)
        if fps and not self.source_fps > 0:
            raise VideoError(path, 'its frame rate is unknown, so --fps cannot resample it')
        self.source_index = resampled(n_source, self.source_fps, fps)
        self.fps = float(fps or self.source_fps)
        self.n_frames = len(self.source_index)

    def frames(self, last=None):
        """Yield (frame number, H x W x 3 uint8 numpy array) for frames 1 ... `last` (all by
        default), in order; a frame that resampling repeats is yielded once per number."""
        last = self.n_frames if last is None else min(last, self.n_frames)
        wanted = self.source_index[:last]
        stop = int(wanted[-1]) + 1
        k = 0  # the next output frame, from 0
        for begin in range(0, stop, CHUNK):
            try:
                batch = self.decoder.get_frames_in_range(begin, min(begin + CHUNK, stop))
            except Exception as e:
                raise decoding_error(self.path, e) from None
            data = batch.data.numpy()
            while k < last and wanted[k] < begin + len(data):
                yield k + 1, data[wanted[k] - begin]
                k += 1
        if k < last:
            raise VideoError(self.path, f'ends after {k} of its {self.n_frames} frames')
