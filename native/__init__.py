"""The native clip core (native/clipcore.c): a clip in one call (training's crops,
validation's, the test pass's and inference's Scale and crop), from JPEG frame files, from
JPEG bytes in memory (an HDF5 file's frames) or from decoded frames, with the same tensors as the Python path (docs/data.md).

`make install` builds native/libclipcore.so from source; where it is missing or cannot be
loaded, `library()` is None and the callers keep the Python path (`unavailable_line()` says
how to get the fast one). The core returns "fallback" for anything it does not handle
exactly (progressive JPEGs, other colour spaces, frames of other sizes, damaged files): the
caller then takes the Python path for that clip, which decodes it or names the damage.
ctypes releases the GIL during the calls, so loader threads and processes run them in
parallel. What the core makes of a transform (its clip plan) is native/plans.py.
"""
import ctypes
import functools
import os

import numpy as np
import torch

from native import plans

LIBRARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'libclipcore.so')
OK, FALLBACK, NO_MEMORY = 0, 1, 2
# Tests and benchmarks set this (or CLIPCORE_DISABLE=1 in the environment) to compare with
# the Python path.
disabled = bool(os.environ.get('CLIPCORE_DISABLE'))


@functools.cache
def load():
    """The loaded library, or the reason it is not there (a str)."""
    if not os.path.exists(LIBRARY):
        return 'native/libclipcore.so is not built'
    try:
        lib = ctypes.CDLL(LIBRARY)
    except OSError as e:
        return f'native/libclipcore.so cannot be loaded ({e})'
    c_int_p = ctypes.POINTER(ctypes.c_int)
    c_float_p = ctypes.POINTER(ctypes.c_float)
    lib.cc_jpeg_size.argtypes = [ctypes.c_char_p, c_int_p, c_int_p]
    lib.cc_clip_from_jpegs.argtypes = [
        ctypes.POINTER(ctypes.c_char_p), c_int_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
        c_int_p, ctypes.c_int, ctypes.c_int, c_float_p, c_float_p, c_int_p]
    lib.cc_jpeg_size_buffer.argtypes = [ctypes.c_void_p, ctypes.c_long, c_int_p, c_int_p]
    lib.cc_clip_from_buffers.argtypes = [
        ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_long), c_int_p, ctypes.c_int,
        ctypes.c_int, ctypes.c_int, c_int_p, ctypes.c_int, ctypes.c_int, c_float_p, c_float_p,
        c_int_p]
    lib.cc_clip_from_frames.argtypes = [
        ctypes.c_void_p, c_int_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long,
        ctypes.c_long, c_int_p, ctypes.c_int, ctypes.c_int, c_float_p, c_float_p]
    lib.cc_use_simd.argtypes = [ctypes.c_int]
    return lib


def library():
    """The native core, or None where it is not built, cannot be loaded or is disabled."""
    lib = load()
    return None if disabled or isinstance(lib, str) else lib


def plan_of(transform):
    """The ClipPlan of a spatial transform (native/plans.py), or None: the core is not
    there, or the transform is nothing the core makes."""
    if library() is None:
        return None
    return plans.plan(transform)


def unavailable_line():
    """One line for users when the core is missing; None when it is there."""
    lib = load()
    if not isinstance(lib, str):
        return None
    return (f'note: {lib}: clips take the slower Python path (the same tensors); '
            'run `make install` (it needs gcc and libjpeg-turbo\'s headers, which it '
            'installs on Debian) to build it')


def _ints(values):
    return (ctypes.c_int * len(values))(*values)


def _float_pointer(tensor):
    return ctypes.cast(tensor.data_ptr(), ctypes.POINTER(ctypes.c_float))


def valid_geometry(geometry, width, height, size):
    if geometry is None:
        return False
    left, top, right, bottom, scaled_w, scaled_h, win_x, win_y = geometry
    return (0 <= left < right <= width and 0 <= top < bottom <= height and
            0 <= win_x and win_x + size <= scaled_w and 0 <= win_y and
            win_y + size <= scaled_h)


def clip_from_jpegs(paths, numbers, plan):
    """A C x T x size x size float clip from the JPEG files `paths` (equal `numbers` mark a
    frame repeated by loop padding), or None: take the Python path for this clip."""
    lib = library()
    if lib is None:
        return None
    width, height = ctypes.c_int(), ctypes.c_int()
    encoded = [os.fsencode(p) for p in paths]
    if lib.cc_jpeg_size(encoded[0], ctypes.byref(width), ctypes.byref(height)) != OK:
        return None
    return _clip(lib.cc_clip_from_jpegs, ((ctypes.c_char_p * len(encoded))(*encoded),),
                 numbers, width.value, height.value, plan)


def clip_from_buffers(buffers, numbers, plan):
    """The same from JPEGs in memory: `buffers`, one contiguous uint8 numpy array (or
    bytes) a frame, as an HDF5 file's frames are read."""
    lib = library()
    if lib is None:
        return None
    arrays = [np.frombuffer(b, dtype=np.uint8) if isinstance(b, bytes) else b for b in buffers]
    if any(a.dtype != np.uint8 or a.ndim != 1 or not a.flags.c_contiguous or not len(a)
           for a in arrays):
        return None
    width, height = ctypes.c_int(), ctypes.c_int()
    if lib.cc_jpeg_size_buffer(arrays[0].ctypes.data, len(arrays[0]), ctypes.byref(width),
                               ctypes.byref(height)) != OK:
        return None
    pointers = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
    lengths = (ctypes.c_long * len(arrays))(*[len(a) for a in arrays])
    return _clip(lib.cc_clip_from_buffers, (pointers, lengths), numbers, width.value,
                 height.value, plan)


def _clip(entry, frames, numbers, width, height, plan):
    """Call one of the core's JPEG entry points with `frames` (its first arguments): the
    clip, or None."""
    geometry = plan.geometry(width, height)
    if not valid_geometry(geometry, width, height, plan.size):
        return None
    out = torch.empty((3, len(numbers), plan.size, plan.size), dtype=torch.float32)
    failed = ctypes.c_int()
    status = entry(*frames, _ints(numbers), len(numbers), width, height, _ints(geometry),
                   plan.size, int(plan.flip), plan.params(), _float_pointer(out),
                   ctypes.byref(failed))
    if status == NO_MEMORY:
        raise MemoryError('out of memory making a clip')
    return out if status == OK else None


def clip_from_frames(frames, plan, cropped=False):
    """The same from decoded RGB frames (C x H x W uint8 tensors, or T x C x H x W); None
    where they are not one size of three channels. `cropped`: the frames are the
    geometry's box already (a decoder kept only it)."""
    lib = library()
    if lib is None:
        return None
    frames = list(frames)
    shapes = {tuple(f.shape) for f in frames}
    if len(shapes) != 1:
        return None
    channels, height, width = shapes.pop()
    if cropped:
        geometry = (0, 0, width, height, plan.size, plan.size, 0, 0)
    else:
        geometry = plan.geometry(width, height)
    if channels != 3 or not valid_geometry(geometry, width, height, plan.size):
        return None
    left, top, right, bottom = geometry[:4]
    # One copy of only the boxes, channels last: T x h x w x 3 contiguous, and the 2 bytes
    # past its end that the core's 8-byte reads may touch.
    h, w = bottom - top, right - left
    memory = torch.empty(len(frames) * h * w * 3 + 2, dtype=torch.uint8)
    crops = memory[:-2].view(len(frames), h, w, 3)
    torch.stack([f[:, top:bottom, left:right].permute(1, 2, 0) for f in frames], out=crops)
    first_of = {}  # a frame repeated by loop padding is the same tensor: resized once
    numbers = [first_of.setdefault(id(f), k) for k, f in enumerate(frames)]
    out = torch.empty((3, len(frames), plan.size, plan.size), dtype=torch.float32)
    status = lib.cc_clip_from_frames(
        crops.data_ptr(), _ints(numbers), len(frames), w, h, h * w * 3, w * 3,
        _ints((0, 0, w, h, *geometry[4:])), plan.size, int(plan.flip), plan.params(),
        _float_pointer(out))
    if status == NO_MEMORY:
        raise MemoryError('out of memory making a clip')
    return out if status == OK else None
