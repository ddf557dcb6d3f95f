"""What the native core makes of a spatial transform: its clip plan (`ClipPlan`), built
from the steps' own descriptions of themselves (`native_step()`, spatial_transforms.py), so
that this module knows no transform class.

A plan is one of two shapes, then the values:
- training: a crop (`Crop`: a box of the frame resized to size x size by PIL's BILINEAR),
  then a flip or not (`Flip`);
- validation, test and inference: the whole frame scaled (`Scale`, BILINEAR), then a
  size x size window of it (`Window`: CenterCrop's or CornerCrop's);
then `Values` (0-255 divided by norm_value) and optionally `Normalise` (mean, std per
channel). Anything else, or a step that does not describe itself, has no plan: the Python
path makes those clips.
"""
import ctypes
from dataclasses import dataclass
from typing import Callable, NamedTuple


class Crop(NamedTuple):
    box: Callable  # (width, height) -> (left, top, right, bottom), the parameters drawn
    size: int


class Flip(NamedTuple):
    flip: bool


class Scale(NamedTuple):
    scaled_size: Callable  # (width, height) -> (scaled width, scaled height)


class Window(NamedTuple):
    box: Callable  # (scaled width, scaled height) -> the window's (left, top, right, bottom)
    size: int


class Values(NamedTuple):
    norm_value: float


class Normalise(NamedTuple):
    mean: tuple
    std: tuple


@dataclass(frozen=True)
class ClipPlan:
    """What a transform does to a clip, drawn parameters included. `geometry(width,
    height)` says, for frames of that size, which box of them is resized by PIL's BILINEAR
    filter to which size and which size x size window of that is kept: (left, top, right,
    bottom, scaled_width, scaled_height, window_left, window_top), or None where this core
    cannot make it (the Python path then does). Training: the crop's box resized to size x
    size, all of it kept; validation and test: the whole frame scaled, a crop of it. Then
    flipped or not, and value / norm_value - mean, / std per channel."""
    geometry: Callable[[int, int], tuple | None]
    size: int
    flip: bool
    norm_value: float
    mean: tuple
    std: tuple

    def params(self):
        return (ctypes.c_float * 7)(self.norm_value, *self.mean, *self.std)


def crop_geometry(crop):
    """A training crop's geometry: its box resized to size x size."""
    def geometry(width, height):
        return (*crop.box(width, height), crop.size, crop.size, 0, 0)
    return geometry


def scaled_window_geometry(scale, window):
    """The whole frame scaled, a window of it; None where the window leaves the scaled
    frame (PIL pads with black)."""
    def geometry(width, height):
        scaled_w, scaled_h = scale.scaled_size(width, height)
        left, top, right, bottom = window.box(scaled_w, scaled_h)
        if left < 0 or top < 0 or right > scaled_w or bottom > scaled_h:
            return None
        return 0, 0, width, height, scaled_w, scaled_h, left, top
    return geometry


def plan(transform):
    """The ClipPlan of a spatial transform (a Compose, whose `native_steps()` describe its
    steps), or None where it is nothing the core makes."""
    steps = list(transform.native_steps()) if hasattr(transform, 'native_steps') else [None]
    if not steps or None in steps:
        return None
    first = steps.pop(0)
    flip = False
    if isinstance(first, Crop):
        geometry, size = crop_geometry(first), first.size
        if steps and isinstance(steps[0], Flip):
            flip = steps.pop(0).flip
    elif isinstance(first, Scale) and steps and isinstance(steps[0], Window):
        window = steps.pop(0)
        geometry, size = scaled_window_geometry(first, window), window.size
    else:
        return None
    if not steps or not isinstance(steps[0], Values):
        return None
    norm_value = steps.pop(0).norm_value
    mean, std = (0, 0, 0), (1, 1, 1)
    if steps and isinstance(steps[0], Normalise):
        normalise = steps.pop(0)
        mean, std = tuple(normalise.mean), tuple(normalise.std)
    if steps or len(mean) != 3 or len(std) != 3:
        return None
    return ClipPlan(geometry, size, flip, norm_value, mean, std)
