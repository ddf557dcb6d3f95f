"""Temporal transforms: choose a clip's frame numbers from a video's (docs/data.md).

Each takes a list of frame numbers and returns a new list; the input is never modified.
"""
import random

import numpy as np


def n_windows(first, stop, step):
    """How many clips start at frames first, first + step, ... below `stop` (numbers or numpy
    arrays): at least one, so that a video shorter than a step still gets its loop-padded
    clip. The test pass's windows (step: a clip's length) and inference's follow it."""
    return np.maximum(-(-(stop - first) // step), 1)


class LoopPadding:
    """Repeat the frames from the start until there are `size`."""

    def __init__(self, size):
        self.size = size

    def __call__(self, frame_indices):
        out = list(frame_indices)
        if not out:
            return out
        while len(out) < self.size:
            out.extend(out[:self.size - len(out)])
        return out


class TemporalBeginCrop:
    """The first `size` frames, loop-padded."""

    def __init__(self, size):
        self.size = size

    def __call__(self, frame_indices):
        return LoopPadding(self.size)(frame_indices[:self.size])


class TemporalCenterCrop:
    """`size` frames around the middle, loop-padded."""

    def __init__(self, size):
        self.size = size

    def __call__(self, frame_indices):
        begin = max(0, len(frame_indices) // 2 - self.size // 2)
        return LoopPadding(self.size)(frame_indices[begin:begin + self.size])


class TemporalRandomCrop:
    """`size` frames from a uniformly drawn start, loop-padded."""

    def __init__(self, size):
        self.size = size

    def __call__(self, frame_indices):
        # The reference's bound, kept: the last possible start (len - size) is never drawn.
        begin = random.randint(0, max(0, len(frame_indices) - self.size - 1))
        return LoopPadding(self.size)(frame_indices[begin:begin + self.size])


class TemporalSubsampling:
    """Every `stride`-th frame number (the 2020 release's --sample_t_stride)."""

    def __init__(self, stride):
        self.stride = stride

    def __call__(self, frame_indices):
        return list(frame_indices)[::self.stride]


class Compose:
    """Temporal transforms applied in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, frame_indices):
        for t in self.transforms:
            frame_indices = t(frame_indices)
        return frame_indices


# -- the 2020 release's clips of a video (--recipe 2020) ------------------------------------

def release_windows(first, end, duration, t_stride=1, step=None, n_clips=None):
    """[(start, length)] of the clips the 2020 release takes from frames first .. end - 1:
    the frame numbers taken every `t_stride`-th, then a clip starting at every `step`-th of
    those (`step` None: spread so that `n_clips` clips cover the video, its validation's
    TemporalEvenCrop); each clip holds the CONSECUTIVE frames from its start, `duration` of
    them or up to the last number taken (the release's quirk: a clip is not strided), and
    the first short one, loop padded later, ends the list; at most `n_clips` clips.

    n_clips 1 with no step is one clip from the first frame (the release divides by zero)."""
    taken = range(first, end, t_stride)
    if not taken:
        return []
    if step is None:
        step = 1 if n_clips == 1 else max(
            1, -(-(len(taken) - 1 - duration) // (n_clips - 1)))
    stop = taken[-1] + 1
    out = []
    for start in taken[::step]:
        if n_clips is not None and len(out) >= n_clips:
            break
        length = min(stop, start + duration) - start
        out.append((start, length))
        if length < duration:
            break
    return out
