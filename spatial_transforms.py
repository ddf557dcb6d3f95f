"""Spatial transforms of frames (docs/data.md).

Every transform works frame by frame on PIL images through `__call__`, as in the reference,
and a clip's random parameters are drawn once by `randomize_parameters()`. The data loader
takes one of two clip paths instead:

- `Compose.apply_clip(frames)`, PIL frames: the geometric steps run per frame in PIL, but
  ToTensor and Normalize run once on the whole clip. Identical tensors to the frame-by-frame
  way (tests/test_transforms.py). Validation and test use it: their outputs stay exact.
- `Compose.apply_tensor_frames(frames)`, uint8 tensors from torchcodec's decoders
  (training): the crop keeps a view of each frame, only the kept pixels reach the resize,
  and the flip, float conversion and normalisation each run once per clip. The resize is
  PIL's, per frame (`crop_and_resize_pil`: the same tensors as the PIL path, since
  torchcodec's JPEG decoder gives PIL's pixels), or with --fast_training_clips PyTorch's
  uint8 kernel once per clip (`crop_and_resize`: about 1.9x the reference's clips/s, 1 grey
  level off PIL in under 1 % of values and 2 in about 1 of 500,000).
  From a video file, a clip whose transform starts with a crop decodes only that crop
  (`Compose.decoder_crop_box`, then `apply_tensor_frames(frames, cropped=True)`): the same
  pixels, since the decoder crops after converting to RGB.
"""
import random

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

BILINEAR = Image.BILINEAR
CROP_POSITIONS = ('c', 'tl', 'tr', 'bl', 'br')


class FrameTransform:
    """A transform of single frames; on a clip it maps over the frames."""

    def randomize_parameters(self):
        pass

    def apply_clip(self, frames):
        if isinstance(frames, torch.Tensor):  # C x T x H x W
            return torch.stack([self(frames[:, t]) for t in range(frames.shape[1])], 1)
        return [self(frame) for frame in frames]


class Compose(FrameTransform):
    def __init__(self, transforms, tensor_frames=False):
        self.transforms = list(transforms)
        # Whether the loader may hand decoded uint8 tensors to `apply_tensor_frames`: when
        # asked for, and every step takes them.
        self.takes_tensor_frames = tensor_frames and all(
            getattr(t, 'takes_tensor_frames', hasattr(t, 'apply_tensor_frames'))
            for t in self.transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def randomize_parameters(self):
        for t in self.transforms:
            if hasattr(t, 'randomize_parameters'):
                t.randomize_parameters()

    def apply_clip(self, frames):
        """Transform a list of frames into a C x T x H x W tensor (or what the steps make)."""
        for t in self.transforms:
            frames = t.apply_clip(frames) if hasattr(t, 'apply_clip') else \
                FrameTransform.apply_clip(t, frames)
        return frames

    def decoder_crop_box(self, width, height):
        """The box (left, top, right, bottom) that the first step, a crop, keeps of a
        `width` x `height` frame with the parameters drawn; None when no crop comes first."""
        first = self.transforms[0] if self.transforms else None
        return first.box(width, height) if isinstance(first, TensorFramesCrop) else None

    def apply_tensor_frames(self, frames, cropped=False):
        """Decoded frames (a list of C x H x W uint8 tensors) -> C x T x H x W tensor;
        `cropped`: the decoder already kept only `decoder_crop_box` of each frame."""
        for k, t in enumerate(self.transforms):
            frames = t.apply_tensor_frames(frames, cropped) if k == 0 and cropped else \
                t.apply_tensor_frames(frames)
        return frames


def crop_and_resize_pil(frames, box, size, interpolation=BILINEAR):
    """One `box` of every frame (C x H x W uint8 tensors) resized to size x size by PIL, frame
    by frame: T x C x size x size uint8, PIL's pixels. Only the box is handed to PIL (the
    crop is a view), and a frame repeated by loop padding is resized once."""
    left, top, right, bottom = box
    clip = np.empty((len(frames), size, size, frames[0].shape[0]), np.uint8)
    done = {}
    for k, frame in enumerate(frames):
        if id(frame) in done:
            clip[k] = clip[done[id(frame)]]
            continue
        crop = Image.fromarray(frame[:, top:bottom, left:right].permute(1, 2, 0).numpy())
        clip[k] = np.asarray(crop.resize((size, size), interpolation))
        done[id(frame)] = k
    return torch.from_numpy(clip).permute(0, 3, 1, 2)


def crop_and_resize(frames, box, size):
    """One `box` of every frame (C x H x W uint8 tensors, as the decoder gives them: views of
    H x W x C memory) resized to size x size in one call: T x C x size x size uint8,
    channels-last. PyTorch's antialiased uint8 kernel uses PIL's triangle weights, but at
    14 bits instead of 22, so its byte between the row and column passes sometimes rounds
    the other way: measured 1 grey level off PIL's crop + BILINEAR resize in under 1 % of
    values, 2 in about 1 of 500,000, never more (bench/RESULTS.md). Computing in float
    would keep within 1 but costs more than PIL itself on the CPU."""
    left, top, right, bottom = box
    # Stacking H x W x C crops copies only the kept pixels, and leaves the clip in the
    # channels-last layout that the uint8 kernel works in (twice as fast as channels-first).
    crops = torch.stack([f[:, top:bottom, left:right].permute(1, 2, 0) for f in frames])
    return F.interpolate(crops.permute(0, 3, 1, 2), size=(size, size), mode='bilinear',
                         antialias=True, align_corners=False)


class TensorFramesCrop:
    """What the multi-scale crops share on decoded frames: `tensor_resize` 'pil' (PIL's
    pixels) or 'torch' (PyTorch's uint8 kernel, BILINEAR only)."""
    tensor_resize = 'pil'

    @property
    def takes_tensor_frames(self):
        return self.tensor_resize == 'pil' or self.interpolation == BILINEAR

    def apply_tensor_frames(self, frames, cropped=False):
        """Frames of one size share one box (and, with 'torch', one resize call);
        `cropped`: the frames are the box already (decoded so), only the resize is left."""
        sizes = {tuple(f.shape[1:]) for f in frames}
        if len(sizes) > 1:
            return torch.cat([self.apply_tensor_frames([f], cropped) for f in frames])
        h, w = sizes.pop()
        box = (0, 0, w, h) if cropped else self.box(w, h)
        if self.tensor_resize == 'torch':
            return crop_and_resize(frames, box, self.size)
        return crop_and_resize_pil(frames, box, self.size, self.interpolation)


class ToTensor(FrameTransform):
    """PIL image (H x W x C bytes) to a C x H x W float tensor divided by `norm_value`."""

    def __init__(self, norm_value=255):
        self.norm_value = norm_value

    def __call__(self, pic):
        array = np.asarray(pic)
        if array.ndim == 2:
            array = array[:, :, None]
        return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div(self.norm_value)

    def apply_clip(self, frames):
        if isinstance(frames, torch.Tensor):
            return frames
        arrays = [np.asarray(frame) for frame in frames]
        if arrays[0].ndim != 3 or arrays[0].dtype != np.uint8:
            return torch.stack([self(f) for f in frames], 1)
        # One T x H x W x C byte array, then one converting transpose to C x T x H x W
        # (numpy's strided astype is about twice as fast as torch's copy here).
        clip = torch.from_numpy(np.stack(arrays).transpose(3, 0, 1, 2).astype(np.float32))
        return clip if self.norm_value == 1 else clip.div_(self.norm_value)

    def apply_tensor_frames(self, frames):
        """T x C x H x W uint8 -> contiguous C x T x H x W float, in one converting copy."""
        t, c, h, w = frames.shape
        clip = torch.empty((c, t, h, w), dtype=torch.float32)
        clip.copy_(frames.permute(1, 0, 2, 3))
        return clip if self.norm_value == 1 else clip.div_(self.norm_value)


class Normalize(FrameTransform):
    """Per channel (x - mean) / std, in place, on a C x ... tensor."""

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

    apply_tensor_frames = apply_clip


class Scale(FrameTransform):
    """Resize the shorter side to `size` (longer side: int(size * long / short))."""

    def __init__(self, size, interpolation=BILINEAR):
        self.size = size
        self.interpolation = interpolation

    def __call__(self, img):
        w, h = img.size
        if min(w, h) == self.size:
            return img
        if w < h:
            return img.resize((self.size, int(self.size * h / w)), self.interpolation)
        return img.resize((int(self.size * w / h), self.size), self.interpolation)


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


class CornerCrop(FrameTransform):
    """Crop at `crop_position`; with None, a position is drawn per clip."""

    def __init__(self, size, crop_position=None, crop_positions=CROP_POSITIONS):
        self.size = size
        self.randomize = crop_position is None
        self.crop_position = crop_position
        self.crop_positions = list(crop_positions)

    def __call__(self, img):
        return img.crop(corner_box(*img.size, self.size, self.crop_position))

    def randomize_parameters(self):
        if self.randomize:
            self.crop_position = self.crop_positions[random.randint(0, len(self.crop_positions)
                                                                    - 1)]


class RandomHorizontalFlip(FrameTransform):
    """Flip a whole clip with probability 0.5."""

    def __init__(self):
        self.p = random.random()

    def __call__(self, img):
        return img.transpose(Image.FLIP_LEFT_RIGHT) if self.p < 0.5 else img

    def apply_tensor_frames(self, frames):
        return frames.flip(-1) if self.p < 0.5 else frames

    def randomize_parameters(self):
        self.p = random.random()


class MultiScaleCornerCrop(TensorFramesCrop, FrameTransform):
    """Square crop of side int(min(w, h) * scale) at a drawn position, resized to `size`."""

    def __init__(self, scales, size, interpolation=BILINEAR, crop_positions=CROP_POSITIONS,
                 tensor_resize='pil'):
        self.tensor_resize = tensor_resize
        self.scales = list(scales)
        self.size = size
        self.interpolation = interpolation
        self.crop_positions = list(crop_positions)
        self.scale = self.scales[0]
        self.crop_position = self.crop_positions[0]

    def box(self, w, h):
        s = int(min(w, h) * self.scale)
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
