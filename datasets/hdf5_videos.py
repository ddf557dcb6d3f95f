"""Frames from HDF5 files, one a video, as the 2020 release writes them
(utils_scripts/generate_video_hdf5.py): the dataset `video` holds the bytes of one JPEG
frame per entry, in frame order; flow files hold `video_u` and `video_v`, grey JPEGs of the
horizontal and vertical flow.

An entry is decoded as the same bytes in a frame folder's file would be (the same
decoders, the same pixels), RGB. A flow frame is the image merged from (u, v, v), as the
release merges it; its third channel is dropped by the transform (`FirstChannels`). Which
entry a frame number names is the layout's (`first_number`: the number of entry 0).
"""
import io
import os

import numpy as np
import torch
from PIL import Image

from datasets.decoding_errors import DamagedFrame, VideoError
from datasets.jpeg_frames import jpeg_decoder, usable_jpeg
from utils import one_line

HDF5_EXTENSION = '.hdf5'
RGB = ('video',)
FLOW = ('video_u', 'video_v')
ADVICE = 'write this video\'s file again (utils_scripts/generate_video_hdf5.py)'


def dataset_names(flow):
    return FLOW if flow else RGB


def open_file(path):
    """The h5py File of a video, read-only; a VideoError naming what is wrong otherwise."""
    import h5py  # (here: the data-preparation programs import this module without it)
    try:
        return h5py.File(path, 'r')
    except FileNotFoundError:
        raise VideoError(path, 'not found') from None
    except OSError as e:
        text = str(e)
        if 'signature' in text:
            reason = 'is not an HDF5 file'
        elif 'truncated' in text or 'eof' in text.lower():
            reason = 'is truncated (copy or write it again)'
        else:
            reason = f'cannot be read as HDF5 ({one_line(e, 160)})'
        raise VideoError(path, reason) from None


class OpenFiles:
    """The HDF5 files this process read last, kept open (opening one costs about as much as
    reading a clip's bytes). A process forked from one that held some opens its own: the
    inherited handles are kept unused (HDF5 handles are not to be shared across a fork)."""
    LIMIT = 8

    def __init__(self):
        self.pid, self.files, self.inherited = os.getpid(), {}, []

    def get(self, path):
        if self.pid != os.getpid():
            self.inherited.append(self.files)
            self.pid, self.files = os.getpid(), {}
        file = self.files.pop(path, None)
        if file is None or not file.id.valid:
            file = open_file(path)
        self.files[path] = file  # the most recent last
        while len(self.files) > self.LIMIT:
            self.files.pop(next(iter(self.files))).close()
        return file

    def forget(self, path):
        """Close `path`'s handle (after an error: the next read opens it afresh)."""
        file = self.files.pop(path, None)
        if file is not None and self.pid == os.getpid():
            file.close()


OPEN = OpenFiles()


def frame_datasets(file, path, flow):
    """The file's datasets of frames (`video`, or `video_u` and `video_v`); a VideoError
    naming a missing one."""
    found = []
    for name in dataset_names(flow):
        if name not in file:
            held = ', '.join(sorted(file.keys())[:4]) or 'nothing'
            other = ' (a flow file: give --input_type flow)' if name == 'video' and \
                'video_u' in file else ' (an RGB file: leave out --input_type flow)' if \
                name == 'video_u' and 'video' in file else ''
            raise VideoError(path, f'has no dataset {name!r} (it holds {held}){other}')
        found.append(file[name])
    return found


def count_frames(path, flow=False):
    """(number of frames, 0.0, 0, 0, False, '') of an HDF5 video (a flow file: the shorter
    of its two datasets), or (0, 0.0, 0, 0, False, reason): the index's row
    (datasets/video_index.py), its frame rate, size and seeking left out."""
    try:
        with open_file(path) as file:
            n = min(len(d) for d in frame_datasets(file, path, flow))
    except VideoError as e:
        return 0, 0.0, 0, 0, False, e.reason
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        return 0, 0.0, 0, 0, False, f'cannot be read as HDF5 ({one_line(e, 160)})'
    return n, 0.0, 0, 0, False, ''


def read_entries(path, frame_numbers, first_number, flow=False):
    """{frame number: [bytes of each dataset's entry as a uint8 array]} for the distinct
    numbers; a frame past the file's end or that cannot be read is a DamagedFrame."""
    wanted = list(dict.fromkeys(frame_numbers))
    try:
        datasets = frame_datasets(OPEN.get(path), path, flow)
        n = min(len(d) for d in datasets)
        for number in wanted:
            if not 0 <= number - first_number < n:
                raise DamagedFrame(f'{path} frame {number}', 'missing',
                                   f'the file holds {n} frames, from {first_number}',
                                   advice='check the annotation\'s segment')
        # One read of the run of entries a clip spans: a call per entry costs more.
        low, high = min(wanted) - first_number, max(wanted) - first_number + 1
        runs = [d[low:high] for d in datasets]
    except VideoError as e:
        OPEN.forget(path)
        raise DamagedFrame(path, 'unreadable', e.reason, advice=ADVICE) from None
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        OPEN.forget(path)
        raise DamagedFrame(path, 'unreadable', one_line(e, 160), advice=ADVICE) from None
    return {number: [np.asarray(run[number - first_number - low], dtype=np.uint8)
                     for run in runs] for number in wanted}


def pil_image(data, path, number, mode):
    """One entry's JPEG bytes as a PIL image in `mode` ('RGB', or 'L' for flow)."""
    try:
        image = Image.open(io.BytesIO(data.tobytes()))
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise DamagedFrame(f'{path} frame {number}', 'corrupt', one_line(e, 200),
                           advice=ADVICE) from None
    return image if image.mode == mode else image.convert(mode)


def flow_frame(entry, path, number):
    """The RGB image merged from a flow frame's (u, v, v), as the release merges it."""
    u, v = (pil_image(data, path, number, 'L') for data in entry)
    if u.size != v.size:
        raise DamagedFrame(f'{path} frame {number}', 'corrupt',
                           f'its u and v images differ in size ({u.size}, {v.size})',
                           advice=ADVICE)
    return Image.merge('RGB', (u, v, v))


def hdf5_frames(path, frame_numbers, first_number, flow=False, tensors=False):
    """The frames of a clip from an HDF5 video: PIL RGB images, or with `tensors` C x H x W
    uint8 tensors (RGB through the JPEG decoder of frame folders, the same pixels), each
    decoded once."""
    entries = read_entries(path, frame_numbers, first_number, flow)
    decoded = {}
    for number, entry in entries.items():
        if flow:
            frame = flow_frame(entry, path, number)
            decoded[number] = torch.from_numpy(np.asarray(frame).copy()).permute(2, 0, 1) \
                if tensors else frame
        elif tensors:
            decoded[number] = tensor_frame(entry[0], path, number)
        else:
            decoded[number] = pil_image(entry[0], path, number, 'RGB')
    return [decoded[number] for number in frame_numbers]


def tensor_frame(data, path, number):
    """An RGB entry as a C x H x W uint8 tensor: libjpeg-turbo through torchcodec where it
    takes the bytes exactly as PIL would, PIL otherwise."""
    decode_jpeg = jpeg_decoder()
    raw = data.tobytes()
    if decode_jpeg is not None and usable_jpeg(raw):
        try:
            return decode_jpeg(torch.frombuffer(bytearray(raw), dtype=torch.uint8))
        except (RuntimeError, OSError, ValueError):
            pass  # PIL reads what it can, or names the damage
    frame = np.asarray(pil_image(data, path, number, 'RGB'))
    return torch.from_numpy(frame.copy()).permute(2, 0, 1)
