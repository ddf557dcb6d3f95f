"""Frames from video files (torchcodec, FFmpeg's decoders): the frames of a clip at any
place, only a box of each where the transform crops first (training, validation, test), and
every frame in order, at the file's own rate or resampled (indexing, inference).

Frames are numbered from 1, as the frame folders' `image_00001.jpg` are.
"""
import functools
import math
from typing import NamedTuple

import numpy as np
from PIL import Image

from datasets.decoding_errors import (REPLACE_VIDEO, DamagedFrame, VideoError, decoding_error,
                                     decoding_failure)

# Frames decoded per call: enough to amortise the call, few enough that a chunk is still in
# the core's cache when it is converted and that 4K video does not hold much memory
# (bench/RESULTS.md, video files).
CHUNK = 8


# -- clips at random places (training, validation, test) ------------------------------------

class OpenVideo:
    """The video file this process decoded last, kept open for the next clip of the same
    video and box (the test pass's windows come in order). One per process: each loader
    worker has its own.

    Frame k is the k-th frame of the file in every path (the index's count, the test pass,
    inference.py's frames in order). A file opens in torchcodec's approximate seek mode (no
    scan of the file: frame k is the first frame at or after time start + (k - 1) / rate)
    only where the index found that this finds the k-th frame for every k (`seeks_by_time`);
    the others (a variable frame rate, as phones record; a container that rounds its
    timestamps so that its duration times its rate falls short of its frames) open in exact
    mode, which scans the file. For a caller that cannot tell, approximate seeking is checked
    as it goes (the frames' times on the rate's grid, the frames it can reach), and a file
    that fails is opened again in exact mode, and stays so in this process."""

    def __init__(self):
        self.key, self.decoder = None, None
        self.irregular = set()  # paths found to need exact seeking

    def get(self, path, box, by_time=True):
        """(the decoder for `path` and `box`, whether it seeks by time)."""
        by_time = by_time and path not in self.irregular
        if self.key != (path, box, by_time):
            from torchcodec.decoders import VideoDecoder  # only where videos are read
            self.key, self.decoder = None, None
            crop = None if box is None else [box_crop(box)]
            self.decoder = VideoDecoder(decoder_source(path), dimension_order='NHWC',
                                        num_ffmpeg_threads=1, transforms=crop,
                                        seek_mode='approximate' if by_time else 'exact')
            self.key = (path, box, by_time)
        return self.decoder, by_time

    def on_grid(self, path, numbers, pts_seconds):
        """Whether frames `numbers` (from 1), decoded by approximate seeking, have the times
        of a constant frame rate; if not, the file is marked for exact seeking."""
        metadata = self.decoder.metadata
        fps = metadata.average_fps_from_header or 0
        begin = metadata.begin_stream_seconds_from_header or 0
        expected = begin + (np.asarray(numbers, dtype=np.float64) - 1) / max(fps, 1e-9)
        if fps > 0 and np.all(np.abs(np.asarray(pts_seconds) - expected) < 0.25 / fps):
            return True
        self.irregular.add(path)
        self.close()
        return False

    def reaches(self, path, number):
        """Whether approximate seeking can ask for frame `number` (from 1): it takes a file
        to hold its duration times its rate frames, rounded down, which can be fewer than it
        holds where the container rounds timestamps (Matroska keeps milliseconds). If not,
        the file is marked for exact seeking."""
        if number <= len(self.decoder):
            return True
        self.irregular.add(path)
        self.close()
        return False

    def close(self):
        self.key, self.decoder = None, None


OPEN_VIDEO = OpenVideo()


def decode_video_frames(path, frame_indices, box=None, convert=None, by_time=True):
    """{frame number: H x W x C uint8 frame (a view of the decoder's batch), or what
    `convert` makes of it} for a clip of a video file, only `box` (left, top, right, bottom)
    of each frame if given; `by_time`: whether the index found that the file can be sought
    by time (`seeks_by_time`). torchcodec seeks to the key frame before the first and decodes
    forward."""
    unique = sorted(set(frame_indices))
    try:
        frames = decode_numbers(path, unique, box, convert, by_time)
        if frames is None:  # approximate seeking went wrong: again, seeking exactly
            frames = decode_numbers(path, unique, box, convert, False)
    except Exception as e:  # FFmpeg's errors come as RuntimeError, ValueError, IndexError...
        OPEN_VIDEO.close()
        raise DamagedFrame(f'{path} (frames {unique[0]}-{unique[-1]})', 'corrupt',
                           decoding_failure(e), REPLACE_VIDEO) from None
    if len(frames) < len(unique):  # a short read: the file changed since it was indexed
        OPEN_VIDEO.close()
        missing = [i for i in unique if i not in frames]
        raise DamagedFrame(f'{path} (frames {unique[0]}-{unique[-1]})', 'short',
                           f'frames {missing[0]}-{missing[-1]} did not decode: the file ends '
                           'early or changed since it was indexed', REPLACE_VIDEO)
    return frames



def decode_numbers(path, unique, box, convert, by_time):
    """The frames `unique` (sorted frame numbers) as decode_video_frames gives them, or None
    when approximate seeking cannot reach them or found them off a constant rate's grid (the
    file is then marked for exact seeking)."""
    decoder, by_time = OPEN_VIDEO.get(path, box, by_time)
    if by_time and not OPEN_VIDEO.reaches(path, unique[-1]):
        return None
    on_grid = OPEN_VIDEO.on_grid if by_time else lambda *_: True
    frames = {}
    if unique[-1] - unique[0] + 1 == len(unique):  # consecutive: the usual clip
        # A chunk at a time, each converted while it is still in the core's cache; a range
        # decodes forward from its first frame, so that frame's time tells for the chunk.
        for k in range(0, len(unique), CHUNK):
            part = unique[k:k + CHUNK]
            batch = decoder.get_frames_in_range(part[0] - 1, part[-1])
            if not on_grid(path, part[:1], batch.pts_seconds[:1]):
                return None
            frames.update(zip(part, map(convert, batch.data) if convert else batch.data))
    else:
        batch = decoder.get_frames_at([i - 1 for i in unique])
        if not on_grid(path, unique[:len(batch.data)], batch.pts_seconds[:len(batch.data)]):
            return None
        frames.update(zip(unique, map(convert, batch.data) if convert else batch.data))
    return frames


def video_file_loader(path, frame_indices, box=None, by_time=True):
    """The frames of a clip from a video file (only `box` of each if given), as C x H x W
    uint8 tensors (views of the decoder's H x W x C frames, as tensor_video_loader gives
    them)."""
    by_number = decode_video_frames(path, frame_indices, box, by_time=by_time)
    return [by_number[i].permute(2, 0, 1) for i in frame_indices]


def video_file_pil_loader(path, frame_indices, by_time=True):
    """The frames of a clip from a video file as PIL images, for the PIL transforms."""
    images = decode_video_frames(path, frame_indices, by_time=by_time,
                                 convert=lambda frame: Image.fromarray(frame.numpy()))
    return [images[i] for i in frame_indices]


def decoder_source(path):
    """What torchcodec opens for `path`: the path, or, for a name that is not valid UTF-8
    (an archive from a Latin-1 system), the open file, which torchcodec reads through."""
    try:
        path.encode('utf-8')
        return path
    except UnicodeEncodeError:
        return open(path, 'rb')  # noqa: SIM115 (the decoder holds it while it is used)


def box_crop(box):
    """A torchcodec decoder transform keeping `box` (left, top, right, bottom) of every
    frame. FFmpeg crops after converting to RGB, so the pixels are those of the whole frame's
    box, but only the box is copied out."""
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


# -- every frame in order (indexing, inference) ---------------------------------------------

def resampled_count(n_source, source_fps, fps):
    """How many frames at `fps` span `n_source` frames at `source_fps` (at least one)."""
    return max(1, math.ceil(n_source * fps / source_fps - 1e-9))


def resampled(n_source, source_fps, fps=None):
    """The source frame (from 0) of each output frame when `n_source` frames at `source_fps`
    are resampled to `fps` (all of them, in order, without `fps`): output frame k shows what
    is on screen at time k / fps."""
    if not fps:
        return np.arange(n_source)
    n = resampled_count(n_source, source_fps, fps)
    return np.minimum(np.floor(np.arange(n) * (source_fps / fps) + 1e-9).astype(np.int64),
                      n_source - 1)


# Containers torchcodec 0.17 fails on near their end ("no more frames left to decode"), in
# exact and approximate seeking alike: refused with advice, when indexed or given to
# inference, rather than met as damaged clips during a run. FFmpeg itself reads them, so
# video_reencode.py converts them.
MPEG_STREAMS = ('.mpg', '.mpeg', '.ts', '.m2ts', '.mts', '.vob')


class VideoFacts(NamedTuple):
    """What the index keeps of a video file."""
    n_frames: int
    fps: float  # frames a second, on average over the file
    width: int  # of the frames as decoded (a rotation applied)
    height: int
    by_time: bool  # whether seeking by time finds every frame (OpenVideo)


def scan_video(path):
    """The VideoFacts of a video file, from its header and its packets (read, not decoded:
    the counts are those of VideoFile); a file that is not a readable video raises
    VideoError."""
    from torchcodec.decoders import Demuxer  # only where videos are read
    refuse_mpeg_streams(path)
    try:
        demuxer = Demuxer(decoder_source(path))
        stream = demuxer.streams[0]
        header, index = stream.metadata, stream.scan()
        container_duration = demuxer.metadata.duration_seconds_from_header
        n = len(index)
        span = index.end_stream_seconds_from_content - index.begin_stream_seconds_from_content \
            if n else 0.0
    except Exception as e:  # FFmpeg's errors arrive as RuntimeError, ValueError, ...
        raise decoding_error(path, e) from None
    if n < 1:
        raise VideoError(path, 'the video stream has no frames')
    fps = n / span if span > 0 else 0.0  # as VideoFile's (torchcodec's average_fps)
    return VideoFacts(n, float(fps), header.width or 0, header.height or 0,
                      seeks_by_time(header, container_duration, index))


def seeks_by_time(header, container_duration, index):
    """Whether torchcodec's approximate seeking finds the k-th frame of a file for every k,
    from its stream's header and frame index. It looks for frame k as the first frame whose
    time, in the stream's time base, is at or after start + k / rate (the header's), and
    takes the file to hold the header's frame count, or its duration (the stream's, else the
    container's) times its rate, rounded down: true of a constant frame rate; false of a
    variable one, or of a container whose rounded times fall short of its frames (Matroska
    keeps milliseconds). Anything unexpected answers False: exact seeking is never wrong,
    only slower."""
    fps, n = header.average_fps_from_header, len(index)
    try:
        # The packets' own times and time base: what approximate seeking compares with.
        pts = index._pts.numpy()
        per_second = index._time_base_den / index._time_base_num
    except (AttributeError, TypeError, ZeroDivisionError):  # another torchcodec
        return False
    if not fps or np.any(np.diff(pts) <= 0):
        return False
    duration = header.duration_seconds_from_header or container_duration
    n_reached = header.num_frames_from_header or int(fps * duration if duration else 0)
    if n > n_reached:  # the last frames would be refused
        return False
    start = header.begin_stream_seconds_from_header or 0.0
    # As torchcodec computes it: the time in seconds, then the nearest tick (C's round).
    ticks = (start + np.arange(n) / fps) * per_second
    sought = np.sign(ticks) * np.floor(np.abs(ticks) + 0.5)
    return bool(np.array_equal(np.searchsorted(pts, sought, side='left'), np.arange(n)))


def refuse_mpeg_streams(path):
    if path.lower().endswith(MPEG_STREAMS):
        raise VideoError(path, 'an MPEG program or transport stream, which torchcodec does '
                               'not decode reliably to its end (clip by clip or in order):'
                               ' re-encode it with utils_scripts/video_reencode.py')


class VideoFile:
    """A video file's frames, in order, at its own frame rate or resampled to `fps`.

    `n_frames` and `fps` describe the frames `frames()` yields, `width` and `height` their
    size. Opening reads the container's index (no decoding); a file that is not a readable
    video raises VideoError. Resampled, output frame k (from 0) shows what is on screen at
    time k / fps by the frames' own timestamps, so a variable frame rate is followed.
    """

    def __init__(self, path, fps=None):
        from torchcodec.decoders import VideoDecoder  # only where videos are read
        self.path = path
        refuse_mpeg_streams(path)
        try:
            # 'exact': the frame count comes from scanning the file, not from its header.
            self.decoder = VideoDecoder(decoder_source(path), dimension_order='NHWC',
                                        num_ffmpeg_threads=1, seek_mode='exact')
            metadata = self.decoder.metadata
        except Exception as e:  # FFmpeg's errors arrive as RuntimeError, ValueError, ...
            raise decoding_error(path, e) from None
        self.n_source = metadata.num_frames or 0
        if self.n_source < 1:
            raise VideoError(path, 'the video stream has no frames')
        self.width, self.height = metadata.width or 0, metadata.height or 0
        self.source_fps = float(metadata.average_fps or 0)
        if fps and not self.source_fps > 0:
            raise VideoError(path, 'its frame rate is unknown, so --fps cannot resample it')
        self.resample_to = fps
        self.begin = float(metadata.begin_stream_seconds or 0)
        self.fps = float(fps or self.source_fps)
        self.n_frames = resampled_count(self.n_source, self.source_fps, fps) if fps \
            else self.n_source

    def source_frames(self, stop):
        """(time in seconds, H x W x 3 uint8 array) of source frames 0 ... stop - 1, in
        order, decoded a chunk at a time."""
        for begin in range(0, stop, CHUNK):
            try:
                batch = self.decoder.get_frames_in_range(begin, min(begin + CHUNK, stop))
            except Exception as e:
                raise decoding_error(self.path, e) from None
            yield from zip(batch.pts_seconds.tolist(), batch.data.numpy())

    def frames(self, last=None):
        """Yield (frame number, H x W x 3 uint8 numpy array) for frames 1 ... `last` (all by
        default), in order; a frame that resampling repeats is yielded once per number."""
        last = self.n_frames if last is None else min(last, self.n_frames)
        k = 0  # output frames given
        if not self.resample_to:
            for k, (_, frame) in enumerate(self.source_frames(last), 1):
                yield k, frame
        else:
            shown = None  # the source frame on screen
            for pts, frame in self.source_frames(self.n_source):
                # Output frames due before this frame's time show the one before it (or,
                # before the first frame's time, the first frame).
                while k < last and self.begin + k / self.resample_to < pts - 1e-9:
                    k += 1
                    yield k, frame if shown is None else shown
                shown = frame
                if k == last:
                    return
            while shown is not None and k < last:
                k += 1
                yield k, shown
        if k < last:
            raise VideoError(self.path, f'ends after {k} of its {self.n_frames} frames')
