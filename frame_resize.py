"""One box of every decoded frame of a clip (C x H x W uint8 tensors) resized to a square:
PIL's pixels frame by frame, or PyTorch's uint8 kernel in one call (--fast_training_clips).
The training crops of spatial_transforms.py use them on tensor frames."""
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

BILINEAR = Image.BILINEAR


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
    the other way: 1 or 2 grey levels off PIL's crop + BILINEAR resize in a small fraction
    of values (bench/RESULTS.md has the figures). Computing in float would keep within 1
    but costs more than PIL itself on the CPU."""
    left, top, right, bottom = box
    # Stacking H x W x C crops copies only the kept pixels, and leaves the clip in the
    # channels-last layout that the uint8 kernel works in (faster than channels-first).
    crops = torch.stack([f[:, top:bottom, left:right].permute(1, 2, 0) for f in frames])
    return F.interpolate(crops.permute(0, 3, 1, 2), size=(size, size), mode='bilinear',
                         antialias=True, align_corners=False)
