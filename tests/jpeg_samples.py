"""JPEG frames for the native core's tests and its fuzzing: frames of each kind the
core meets, and damaged versions of a file's bytes.

    python -m tests.jpeg_samples FOLDER [--rounds N]

writes a fuzzing corpus into FOLDER (intact.jpg, then the damaged files) for `make asan`'s
driver (native/fuzz.c); needs ffmpeg for the footage frame it starts from.
"""
import argparse
import os
import random

import numpy as np
from PIL import Image

from datasets.names import frame_path

FUZZ_ROUNDS = int(os.environ.get('CLIPCORE_FUZZ_ROUNDS', '120'))


def write_frames(folder, n, size, seed=0, mode=None, **save):
    """n frames of smooth structure with grain (JPEG-like content), saved by PIL with
    `save`'s options, converted to `mode` first if given."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    w, h = size
    base = rng.integers(0, 255, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
    for i in range(1, n + 1):
        img = Image.fromarray(np.roll(base, i, axis=1)).resize((w, h), Image.BILINEAR)
        noise = rng.integers(-20, 20, (h, w, 3))
        image = Image.fromarray(np.clip(np.asarray(img) + noise, 0, 255).astype(np.uint8))
        (image.convert(mode) if mode else image).save(frame_path(folder, i), **save)


def mutations(data, rng, rounds=FUZZ_ROUNDS):
    """Damaged versions of a JPEG file's bytes, each with what was done."""
    yield 'empty', b''
    yield 'header only', data[:600]
    for _ in range(rounds):
        kind = rng.choice(['truncate', 'flip bits', 'random bytes', 'declared size',
                           'cut a piece', 'marker'])
        b = bytearray(data)
        if kind == 'truncate':
            b = b[:rng.randrange(2, len(b))]
        elif kind == 'flip bits':
            for _ in range(rng.choice([1, 2, 8, 40])):
                i = rng.randrange(len(b))
                b[i] ^= 1 << rng.randrange(8)
        elif kind == 'random bytes':
            start = rng.randrange(len(b))
            b[start:start + rng.randrange(1, 64)] = rng.randbytes(rng.randrange(1, 64))
        elif kind == 'declared size':
            sof = b.find(b'\xff\xc0')
            b[sof + 5:sof + 9] = rng.choice([b'\xff\xff\xff\xff', b'\x00\x00\x00\x00',
                                             b'\x00\x01\xff\xff', rng.randbytes(4)])
        elif kind == 'cut a piece':
            start = rng.randrange(len(b))
            del b[start:start + rng.randrange(1, 2000)]
        else:  # a marker inside the scan data
            i = rng.randrange(len(b) // 3, len(b) - 2)
            b[i:i + 2] = bytes([0xFF, rng.choice([0xC0, 0xC4, 0xD8, 0xD9, 0xDA, 0xDB, 0xE1,
                                                  0x01, 0xD3])])
        yield kind, bytes(b)
    yield 'random file', rng.randbytes(3000)
    yield 'JPEG start then noise', data[:2] + rng.randbytes(5000)


# PIL save options of each kind of frame; tests/test_native.py says which the core decodes.
FRAME_KINDS = {
    '4:2:0': dict(quality=85, subsampling=2),
    '4:2:2': dict(quality=85, subsampling=1),
    '4:4:4': dict(quality=85, subsampling=0),
    'progressive': dict(quality=85, progressive=True),
    'grayscale': dict(quality=85, mode='L'),
    'CMYK': dict(quality=85, mode='CMYK'),
    'PNG named .jpg': dict(format='PNG'),
}


def write_corpus(folder, rounds):
    """intact.jpg (a footage frame) and damaged versions of it and of each kind of frame."""
    from tests.datagen import write_footage_frames
    os.makedirs(folder, exist_ok=True)
    footage = os.path.join(folder, 'footage')
    write_footage_frames(footage, 1)
    sources = {'footage': frame_path(footage, 1)}
    for k, (kind, save) in enumerate(FRAME_KINDS.items()):
        kind_folder = os.path.join(folder, f'kind{k}')
        write_frames(kind_folder, 1, (97, 66), **save)
        sources[kind] = frame_path(kind_folder, 1)
    os.replace(sources['footage'], os.path.join(folder, 'intact.jpg'))
    sources['footage'] = os.path.join(folder, 'intact.jpg')
    rng = random.Random(11)
    n = 0
    for kind, path in sources.items():
        data = open(path, 'rb').read()
        share = rounds if kind == 'footage' else max(1, rounds // 10)
        for _, damaged in mutations(data, rng, share):
            with open(os.path.join(folder, f'case{n:05d}.jpg'), 'wb') as f:
                f.write(damaged)
            n += 1
    return n


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('folder')
    parser.add_argument('--rounds', type=int, default=2000)
    args = parser.parse_args()
    print(f'{write_corpus(args.folder, args.rounds)} damaged files in {args.folder}')
