"""Frames from frame folders: JPEG files decoded by torchcodec's libjpeg-turbo decoder (as
tensors, for training) or by PIL (as images), a damaged or missing file named.

Frames are numbered from 1, as the frame folders' `image_00001.jpg` are.
"""
import functools
import os

import numpy as np
import torch
from PIL import Image

from datasets.decoding_errors import DamagedFrame
from datasets.names import frame_path
from utils import one_line


def pil_loader(path):
    """Decode one frame to RGB, naming the file when it is missing or damaged."""
    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise DamagedFrame(path, 'missing') from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        # PIL's messages repeat the path: the line names it once.
        raise DamagedFrame(path, 'corrupt', one_line(e, 200).replace(f" '{path}'", '')
                           .replace(path, os.path.basename(path))) from None
    return img if img.mode == 'RGB' else img.convert('RGB')


def video_loader(video_dir, frame_indices, image_loader=pil_loader):
    """The frames of a clip as PIL images; a frame repeated by loop padding is decoded once."""
    decoded = {}
    clip = []
    for i in frame_indices:
        if i not in decoded:
            decoded[i] = image_loader(frame_path(video_dir, i))
        clip.append(decoded[i])
    return clip


def get_default_video_loader():
    return video_loader


@functools.cache
def jpeg_decoder():
    """torchcodec's JPEG decoder (libjpeg-turbo, as PIL's: the same pixels), or None where
    torchcodec cannot be loaded; imported on first use, in the process that decodes."""
    try:
        from torchcodec.decoders import decode_jpeg
    except (ImportError, OSError, RuntimeError):  # missing, or FFmpeg libraries missing
        return None
    return decode_jpeg


def tensor_video_loader(video_dir, frame_indices):
    """The frames of a clip as C x H x W uint8 tensors, each frame decoded once. A frame the
    JPEG decoder refuses, or that declares more pixels than PIL accepts (torchcodec would
    allocate them all), goes to PIL, which reads what it can (other formats under a .jpg
    name) and names the damage as video_loader does."""
    decode_jpeg = jpeg_decoder()
    unique = list(dict.fromkeys(frame_indices))
    paths = [frame_path(video_dir, i) for i in unique]
    encoded = [jpeg_bytes(path) for path in paths]
    decoded = None
    if all(data is not None for data in encoded):
        try:
            decoded = decode_jpeg(encoded)  # one call for the clip: less Python per frame
        except (RuntimeError, OSError, ValueError):
            pass
    if decoded is None:
        decoded = [decode_one_frame(decode_jpeg, path, data)
                   for path, data in zip(paths, encoded)]
    by_number = dict(zip(unique, decoded))
    return [by_number[i] for i in frame_indices]


SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def declared_pixels(data):
    """Width x height that a JPEG's frame header declares, or None where none is found."""
    i = 2
    while i + 9 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker in SOF_MARKERS:
            height = int.from_bytes(data[i + 5:i + 7], 'big')
            return height * int.from_bytes(data[i + 7:i + 9], 'big')
        if marker == 0xFF:  # a fill byte
            i += 1
            continue
        i += 2 + int.from_bytes(data[i + 2:i + 4], 'big')
    return None


def jpeg_bytes(path):
    """A frame file's bytes for the JPEG decoder, or None where PIL should decode it: the
    file cannot be read (PIL names why), it is no JPEG with a frame header, or it declares
    more pixels than PIL's limit."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError:
        return None
    if not usable_jpeg(data):
        return None
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def usable_jpeg(data):
    """Whether bytes are a JPEG with a frame header declaring at most PIL's pixel limit
    (what the JPEG decoder is given; PIL decodes the rest or names the damage)."""
    pixels = declared_pixels(data) if data[:2] == b'\xff\xd8' else None
    return pixels is not None and pixels <= Image.MAX_IMAGE_PIXELS


def decode_one_frame(decode_jpeg, path, data):
    if data is not None:
        try:
            return decode_jpeg(data)
        except (RuntimeError, OSError, ValueError):
            pass
    frame = np.asarray(pil_loader(path))
    return torch.from_numpy(frame.copy()).permute(2, 0, 1)
