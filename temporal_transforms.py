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
