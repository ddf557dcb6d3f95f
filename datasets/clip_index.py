"""Where a dataset's clips start: the samples of each span as a handful of numpy arrays.

    span    a stretch of one video that clips are taken from: a whole video (kinetics,
            ucf101, hmdb51) or an annotated segment (activitynet).
    sample  one item of the dataset: a span and a run of frame numbers
            [start, start + length).

Arrays, not a Python object per clip: a Kinetics-700 index costs megabytes, builds fast, and
is shared by DataLoader workers without copy-on-write growth (reading a numpy array does not
touch Python reference counts).
"""
from typing import NamedTuple

import numpy as np

from temporal_transforms import n_windows


class Samples(NamedTuple):
    span: np.ndarray  # int32: the span each sample is taken from
    start: np.ndarray  # int32: its first frame number
    length: np.ndarray  # int32: frames on disk from there, at most a clip's


def ceil_div(a, b):
    return -(-a // b)


def make_samples(span_video, span_begin, span_end, holes, n_samples, duration, stop_offset,
                 drop_short, windows=None):
    """The samples of the spans (parallel arrays: video, begin, end exclusive), given the
    frame numbers missing on disk (`holes`, video << 32 | number, ascending).

    n_samples 1: one sample per span, all its frames (training; validation with one clip
    takes the centre by its temporal transform); n > 1: n clips spread over the span
    (validation); 0: consecutive windows of `duration` (test). Clip starts stop
    `stop_offset` frames before a span's end; a clip is cut at the first frame missing on
    disk; `drop_short` drops clips shorter than `duration`, otherwise only empty ones.
    `windows(begin, end)` -> [(start, length)], when given, places the clips instead (the
    2020 release's: temporal_transforms.release_windows)."""
    d = duration
    video = span_video.astype(np.int64)
    begin = span_begin.astype(np.int64)
    end = span_end.astype(np.int64)
    holes = np.append(holes, np.iinfo(np.int64).max)  # sentinel: no video's

    def frames_on_disk(span, start):
        """Frames from `start` up to the first one missing on disk (0 when `start` lies past
        the video's last frame: its holes end one past the last frame)."""
        first_hole = holes[np.searchsorted(holes, video[span] << 32 | start)]
        same_video = (first_hole >> 32) == video[span]
        return np.where(same_video, (first_hole & 0xFFFFFFFF) - start, 0)

    if windows is not None:
        placed = [windows(int(b), int(e)) for b, e in zip(begin, end)]
        span = np.repeat(np.arange(len(video)), [len(p) for p in placed])
        start = np.array([s for p in placed for s, _ in p], dtype=np.int64)
        length = np.minimum(np.array([n for p in placed for _, n in p], dtype=np.int64),
                            frames_on_disk(span, start))
    elif n_samples == 1:
        span = np.arange(len(video))
        start = begin
        length = np.minimum(end - begin, frames_on_disk(span, begin))
    else:
        if n_samples > 1:
            step = np.maximum(1, ceil_div(end - begin - 1 - d, n_samples - 1))
        else:
            step = np.full(len(video), d, dtype=np.int64)
        # A one-frame video has no start below its frame count: it still gets one
        # (loop-padded) clip rather than vanishing from the results.
        counts = np.where(end > begin, n_windows(begin, end - stop_offset, step), 0)
        span = np.repeat(np.arange(len(video)), counts)
        k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        start = begin[span] + k * step[span]
        length = np.minimum(d, frames_on_disk(span, start))
    keep = length >= (d if drop_short else 1)
    return Samples(span[keep].astype(np.int32), start[keep].astype(np.int32),
                   length[keep].astype(np.int32))
