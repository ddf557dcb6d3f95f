"""Spatial transforms of frames (docs/data.md).

One protocol: a clip goes through a transform by `apply_clip(frames)`, after its random
parameters (crop, flip) were drawn once by `randomize_parameters()`. `frames` is what the
loader decoded, a list of PIL images or a list of C x H x W uint8 tensors ("tensor frames",
from torchcodec's decoders), and each step hands the next what it made; `Compose` ends with
a C x T x H x W float tensor. A step that only has the reference's per-frame `__call__` is
mapped over the frames.

- PIL frames (validation, test, inference): the geometric steps run per frame in PIL, but
  ToTensor and Normalize run once on the whole clip. Identical tensors to the reference's
  frame-by-frame way (tests/test_transforms.py).
- Tensor frames (training): the crop keeps a view of each frame, only the kept pixels reach
  the resize, and the flip, float conversion and normalisation each run once per clip. The
  resize is PIL's, per frame (`crop_and_resize_pil`: the same tensors as the PIL path, since
  torchcodec's JPEG decoder gives PIL's pixels), or with --fast_training_clips PyTorch's
  uint8 kernel once per clip (`crop_and_resize`: 1 or 2 grey levels off PIL in a small
  fraction of values, bench/RESULTS.md). From a video file, a clip whose transform starts
  with a crop decodes only that crop (`Compose.decoder_crop_box`, then
  `apply_clip(frames, cropped=True)`): the same pixels, since the decoder crops after
  converting to RGB.

A step says whether it takes tensor frames (`takes_tensor_frames`); a Compose built for them
(`tensor_frames=True`) refuses at once a step that does not, so training can never fall back
to the slow path without a word.
"""
import random

import numpy as np
import torch
from PIL import Image

import native
from frame_resize import crop_and_resize, crop_and_resize_pil
from native import plans

BILINEAR = Image.BILINEAR
CROP_POSITIONS = ('c', 'tl', 'tr', 'bl', 'br')


def is_tensor_frames(frames):
    """Whether a clip in progress is decoded uint8 tensor frames (a list of C x H x W, or a
    T x C x H x W batch), not PIL images or a float C x T x H x W clip."""
    first = frames[0] if isinstance(frames, list) else frames
    return isinstance(first, torch.Tensor) and first.dtype == torch.uint8


def map_frames(step, frames):
    """A per-frame transform (`__call__`) applied to each frame of a clip."""
    if isinstance(frames, torch.Tensor):  # C x T x H x W
        return torch.stack([step(frames[:, t]) for t in range(frames.shape[1])], 1)
    return [step(frame) for frame in frames]


class FrameTransform:
    """A transform of single frames (the reference's `__call__`); on a clip it maps over
    the frames. Subclasses that handle a whole clip at once override `apply_clip`."""
    takes_tensor_frames = False

    def randomize_parameters(self):
        pass

    def apply_clip(self, frames):
        return map_frames(self, frames)


class Compose(FrameTransform):
    """Steps applied in order. `tensor_frames`: the loader hands this clip transform decoded
    uint8 tensor frames; every step must take them (a TypeError names the one that does
    not)."""

    def __init__(self, transforms, tensor_frames=False):
        self.transforms = list(transforms)
        if tensor_frames:
            for t in self.transforms:
                if not getattr(t, 'takes_tensor_frames', False):
                    raise TypeError(f'{type(t).__name__} does not take tensor frames: give it '
                                    'an apply_clip for them, or build this Compose without '
                                    'tensor_frames')
        self.takes_tensor_frames = tensor_frames

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def randomize_parameters(self):
        for t in self.transforms:
            if hasattr(t, 'randomize_parameters'):
                t.randomize_parameters()

    def apply_clip(self, frames, cropped=False):
        """A clip's frames through every step: a C x T x H x W tensor (or what the steps
        make). `cropped`: the decoder already kept only `decoder_crop_box` of each frame.
        Tensor frames go through the native core in one call where it is built and the
        steps are a training transform's (native/plans.py): the same tensors."""
        plan = native.plan_of(self) if is_tensor_frames(frames) else None
        if plan is not None:
            clip = native.clip_from_frames(frames, plan, cropped)
            if clip is not None:
                return clip
        for k, t in enumerate(self.transforms):
            if k == 0 and cropped:
                frames = t.apply_clip(frames, cropped=True)
            else:
                frames = t.apply_clip(frames) if hasattr(t, 'apply_clip') else \
                    map_frames(t, frames)
        return frames

    def native_steps(self):
        """Each step's description for the native core (native/plans.py); None for a step
        that has none."""
        return [t.native_step() if hasattr(t, 'native_step') else None
                for t in self.transforms]

    def decoder_crop_box(self, width, height):
        """The box (left, top, right, bottom) that the first step, a crop, keeps of a
        `width` x `height` frame with the parameters drawn; None when no crop comes first."""
        first = self.transforms[0] if self.transforms else None
        return first.box(width, height) if isinstance(first, TensorFramesCrop) else None


class TensorFramesCrop:
    """What the multi-scale crops share: on tensor frames, `tensor_resize` 'pil' (PIL's
    pixels) or 'torch' (PyTorch's uint8 kernel, BILINEAR only); on PIL frames, the
    reference's per-frame crop and resize."""
    tensor_resize = 'pil'

    @property
    def takes_tensor_frames(self):
        return self.tensor_resize == 'pil' or self.interpolation == BILINEAR

    def native_step(self):
        return plans.Crop(self.box, self.size) if self.interpolation == BILINEAR else None

    def apply_clip(self, frames, cropped=False):
        """Tensor frames -> T x C x size x size uint8: frames of one size share one box
        (and, with 'torch', one resize call); `cropped`: the frames are the box already
        (decoded so), only the resize is left. PIL frames -> PIL frames."""
        if not is_tensor_frames(frames):
            return map_frames(self, frames)
        sizes = {tuple(f.shape[1:]) for f in frames}
        if len(sizes) > 1:
            return torch.cat([self.apply_clip([f], cropped) for f in frames])
        h, w = sizes.pop()
        box = (0, 0, w, h) if cropped else self.box(w, h)
        if self.tensor_resize == 'torch':
            return crop_and_resize(frames, box, self.size)
        return crop_and_resize_pil(frames, box, self.size, self.interpolation)


class ToTensor(FrameTransform):
    """PIL image (H x W x C bytes) to a C x H x W float tensor divided by `norm_value`; on a
    clip, to one C x T x H x W float tensor."""
    takes_tensor_frames = True

    def __init__(self, norm_value=255):
        self.norm_value = norm_value

    def __call__(self, pic):
        array = np.asarray(pic)
        if array.ndim == 2:
            array = array[:, :, None]
        return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div(self.norm_value)

    def apply_clip(self, frames):
        if isinstance(frames, torch.Tensor) or is_tensor_frames(frames):
            return self.from_tensor_frames(frames)
        arrays = [np.asarray(frame) for frame in frames]
        if arrays[0].ndim != 3 or arrays[0].dtype != np.uint8:
            return torch.stack([self(f) for f in frames], 1)
        # One T x H x W x C byte array, then one converting transpose to C x T x H x W
        # (numpy's strided astype is faster than torch's copy here).
        clip = torch.from_numpy(np.stack(arrays).transpose(3, 0, 1, 2).astype(np.float32))
        return clip if self.norm_value == 1 else clip.div_(self.norm_value)

    def native_step(self):
        return plans.Values(self.norm_value)

    def from_tensor_frames(self, frames):
        """T x C x H x W frames (or a list of C x H x W), uint8 as decoded -> contiguous
        C x T x H x W float, in one converting copy."""
        if isinstance(frames, list):
            frames = torch.stack(frames)
        t, c, h, w = frames.shape
        clip = torch.empty((c, t, h, w), dtype=torch.float32)
        clip.copy_(frames.permute(1, 0, 2, 3))
        return clip if self.norm_value == 1 else clip.div_(self.norm_value)


class Normalize(FrameTransform):
    """Per channel (x - mean) / std, in place, on a C x ... tensor."""
    takes_tensor_frames = True  # after ToTensor

    def __init__(self, mean, std):
        self.mean = list(mean)
        self.std = list(std)

    def __call__(self, tensor):
        # The same scalar operations per channel on a frame or on a whole clip; subtracting
        # 0 and dividing by 1 change no float, so they are skipped.
        for channel, m, s in zip(tensor, self.mean, self.std):
            if m != 0:
                channel.sub_(m)
            if s != 1:
                channel.div_(s)
        return tensor

    def apply_clip(self, clip):
        return self(clip)

    def native_step(self):
        return plans.Normalise(tuple(self.mean), tuple(self.std))


class FirstChannels(FrameTransform):
    """The first `n` channels of a C x ... tensor (the 2020 release's flow: u and v of the
    (u, v, v) frames)."""
    takes_tensor_frames = True  # after ToTensor

    def __init__(self, n):
        self.n = n

    def __call__(self, tensor):
        return tensor[:self.n]

    def apply_clip(self, clip):
        return clip[:self.n].contiguous()


class ScaleValues(FrameTransform):
    """Multiply a tensor's values (the 2020 release's --value_scale, after ToTensor's
    [0, 1])."""
    takes_tensor_frames = True  # after ToTensor

    def __init__(self, factor):
        self.factor = factor

    def __call__(self, tensor):
        return tensor.mul_(self.factor)

    def apply_clip(self, clip):
        return self(clip)


class Scale(FrameTransform):
    """Resize the shorter side to `size` (longer side: int(size * long / short))."""

    def __init__(self, size, interpolation=BILINEAR):
        self.size = size
        self.interpolation = interpolation

    def scaled_size(self, w, h):
        """The size a w x h frame is resized to (itself where the shorter side is `size`)."""
        if min(w, h) == self.size:
            return w, h
        if w < h:
            return self.size, int(self.size * h / w)
        return int(self.size * w / h), self.size

    def __call__(self, img):
        size = self.scaled_size(*img.size)
        return img if size == img.size else img.resize(size, self.interpolation)

    def native_step(self):
        return plans.Scale(self.scaled_size) if self.interpolation == BILINEAR else None


def corner_box(w, h, size, position):
    """The (left, top, right, bottom) box of a size x size crop at a named position."""
    if position == 'c':
        # The reference's rounding, kept: Python's round (halves to even), not the
        # w // 2 - s // 2 of the multi-scale centre crop.
        left, top = round((w - size) / 2), round((h - size) / 2)
        return left, top, left + size, top + size
    left = 0 if position in ('tl', 'bl') else w - size
    top = 0 if position in ('tl', 'tr') else h - size
    return left, top, left + size, top + size


class CenterCrop(FrameTransform):
    def __init__(self, size):
        self.size = size

    def __call__(self, img):
        return img.crop(corner_box(*img.size, self.size, 'c'))

    def native_step(self):
        return plans.Window(lambda w, h: corner_box(w, h, self.size, 'c'), self.size)


class CornerCrop(FrameTransform):
    """Crop at `crop_position`; with None, a position is drawn per clip."""

    def __init__(self, size, crop_position=None, crop_positions=CROP_POSITIONS):
        self.size = size
        self.randomize = crop_position is None
        self.crop_position = crop_position
        self.crop_positions = list(crop_positions)

    def __call__(self, img):
        return img.crop(corner_box(*img.size, self.size, self.crop_position))

    def native_step(self):
        position = self.crop_position  # as drawn for this clip
        return plans.Window(lambda w, h: corner_box(w, h, self.size, position), self.size)

    def randomize_parameters(self):
        if self.randomize:
            self.crop_position = self.crop_positions[random.randint(0, len(self.crop_positions)
                                                                    - 1)]


class RandomHorizontalFlip(FrameTransform):
    """Flip a whole clip with probability 0.5."""
    takes_tensor_frames = True

    def __init__(self):
        self.p = random.random()

    def __call__(self, img):
        return img.transpose(Image.FLIP_LEFT_RIGHT) if self.p < 0.5 else img

    def apply_clip(self, frames):
        if isinstance(frames, torch.Tensor):  # T x C x H x W or C x T x H x W
            return frames.flip(-1) if self.p < 0.5 else frames
        return map_frames(self, frames)

    def native_step(self):
        return plans.Flip(self.p < 0.5)

    def randomize_parameters(self):
        self.p = random.random()


class MultiScaleCornerCrop(TensorFramesCrop, FrameTransform):
    """Square crop of side int(min(w, h) * scale) at a drawn position, resized to `size`."""

    def __init__(self, scales, size, interpolation=BILINEAR, crop_positions=CROP_POSITIONS,
                 tensor_resize='pil', rounded_centre=False):
        """`rounded_centre`: the centre crop placed as CenterCrop places it (the 2020
        release's), not by the CVPR 2018 code's floor divisions."""
        self.tensor_resize = tensor_resize
        self.scales = list(scales)
        self.size = size
        self.interpolation = interpolation
        self.crop_positions = list(crop_positions)
        self.scale = self.scales[0]
        self.crop_position = self.crop_positions[0]
        self.rounded_centre = rounded_centre

    def box(self, w, h):
        s = int(min(w, h) * self.scale)
        if self.crop_position == 'c' and self.rounded_centre:
            return corner_box(w, h, s, 'c')
        if self.crop_position == 'c':
            # The reference's rounding, kept: floor divisions, not CenterCrop's round().
            cx, cy, half = w // 2, h // 2, s // 2
            return cx - half, cy - half, cx + half, cy + half
        left = 0 if self.crop_position in ('tl', 'bl') else w - s
        top = 0 if self.crop_position in ('tl', 'tr') else h - s
        return left, top, left + s, top + s

    def __call__(self, img):
        return img.crop(self.box(*img.size)).resize((self.size, self.size), self.interpolation)

    def randomize_parameters(self):
        self.scale = self.scales[random.randint(0, len(self.scales) - 1)]
        self.crop_position = self.crop_positions[random.randint(0, len(self.crop_positions) - 1)]


class MultiScaleRandomCrop(TensorFramesCrop, FrameTransform):
    """Square crop of side int(min(w, h) * scale) at a uniform random place, resized."""

    def __init__(self, scales, size, interpolation=BILINEAR, tensor_resize='pil'):
        self.tensor_resize = tensor_resize
        self.scales = list(scales)
        self.size = size
        self.interpolation = interpolation
        self.scale = self.scales[0]
        self.tl_x = self.tl_y = 0.0

    def box(self, w, h):
        s = int(min(w, h) * self.scale)
        x1, y1 = self.tl_x * (w - s), self.tl_y * (h - s)
        # Rounded as PIL rounds a float crop box.
        return round(x1), round(y1), round(x1 + s), round(y1 + s)

    def __call__(self, img):
        return img.crop(self.box(*img.size)).resize((self.size, self.size), self.interpolation)

    def randomize_parameters(self):
        self.scale = self.scales[random.randint(0, len(self.scales) - 1)]
        self.tl_x = random.random()
        self.tl_y = random.random()


class RandomResizedCrop(TensorFramesCrop, FrameTransform):
    """The 2020 release's training crop: torchvision's RandomResizedCrop box (an area of
    `scale` of the frame's, an aspect ratio in `ratio`, drawn by torchvision's own
    get_params from torch's generator), drawn once per clip on its first frame and resized
    to size x size (BILINEAR)."""

    def __init__(self, size, scale, ratio, interpolation=BILINEAR, tensor_resize='pil'):
        self.tensor_resize = tensor_resize
        self.size = size
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.interpolation = interpolation
        self.drawn = None  # ((w, h), box) of the clip in progress

    def box(self, w, h):
        if self.drawn is None or self.drawn[0] != (w, h):
            from torchvision.transforms import RandomResizedCrop as TorchvisionCrop
            # get_params reads only the frame's shape: a view of one element has it.
            shape_only = torch.empty(1, 1, 1).expand(1, h, w)
            top, left, height, width = TorchvisionCrop.get_params(shape_only, self.scale,
                                                                  self.ratio)
            self.drawn = ((w, h), (left, top, left + width, top + height))
        return self.drawn[1]

    def __call__(self, img):
        return img.crop(self.box(*img.size)).resize((self.size, self.size), self.interpolation)

    def randomize_parameters(self):
        self.drawn = None
