"""Generate a small action-recognition dataset whose classes differ only in motion.

    python utils_scripts/make_demo_videos.py DST [--classes main|finetune] [--per_class 40]

Writes real .mp4 files (ffmpeg, H.264) in Kinetics layout, DST/videos/<class>/<key>.mp4,
and Kinetics-style CSVs DST/{train,val,test}.csv for utils_scripts/kinetics_json.py. Each
video shows one shape (random polygon, colour, size, angle, position and speed) over a textured
background that flickers and drifts in colour; the class is how the shape moves, so no
single frame tells it. Every class is its own mirror image, so horizontal flipping in
training never turns one class into another.
"""
import argparse
import colorsys
import csv
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image, ImageDraw

SIZE = 128  # square frames
FRAMES = 32
FPS = 25


# Each motion maps t, frames from the middle of the video, to the shape's pose there: at the
# middle every class shows the same random pose (size, angle, place), so no frame tells the
# class; only the change does.
def grow(t, r):
    return {'scale': math.exp(t * r.uniform(0.03, 0.045))}


def shrink(t, r):
    return {'scale': math.exp(-t * r.uniform(0.03, 0.045))}


def rotate(t, r):
    return {'angle': t * r.choice([-1, 1]) * r.uniform(0.15, 0.3)}


def slide_horizontally(t, r):
    return {'dx': t * r.choice([-1, 1]) * r.uniform(1.2, 2.0)}


def slide_vertically(t, r):
    return {'dy': t * r.choice([-1, 1]) * r.uniform(1.2, 2.0)}


def pulsate(t, r):
    phase = r.choice([0, math.pi])  # growing or shrinking first
    return {'scale': 1 + 0.35 * math.sin(2 * math.pi * t / r.uniform(8, 12) + phase)}


def orbit(t, r):
    w, radius = r.choice([-1, 1]) * r.uniform(0.2, 0.35), r.uniform(14, 22)
    return {'dx': radius * math.sin(w * t), 'dy': radius * (math.cos(w * t) - 1)}


def diagonal(t, r):
    v = r.uniform(1.0, 1.8)
    return {'dx': t * v * r.choice([-1, 1]), 'dy': t * v * r.choice([-1, 1])}


def shake(t, r):
    return {'dx': r.uniform(8, 12) * math.sin(2 * math.pi * t / r.uniform(3, 4.5))}


def still(t, r):
    return {}


CLASS_SETS = {
    'main': [grow, shrink, rotate, slide_horizontally, slide_vertically, pulsate],
    'finetune': [orbit, diagonal, shake, still],
}


class Frozen:
    """A motion's random parameters, drawn once per video and reused at every frame."""

    def __init__(self, rng):
        self.rng, self.values, self.i = rng, [], 0

    def _next(self, draw):
        if self.i == len(self.values):
            self.values.append(draw())
        self.i += 1
        return self.values[self.i - 1]

    def uniform(self, a, b):
        return self._next(lambda: self.rng.uniform(a, b))

    def choice(self, options):
        return self._next(lambda: options[self.rng.integers(len(options))])

    def reset(self):
        self.i = 0


def polygon(kind, size):
    if kind == 'square':
        points = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    elif kind == 'triangle':
        points = [(0, -1.2), (1.1, 0.9), (-1.1, 0.9)]
    else:  # an L, which shows rotation from every side
        points = [(-1, -1.2), (0, -1.2), (0, 0.3), (1, 0.3), (1, 1.2), (-1, 1.2)]
    return [(x * size / 2, y * size / 2) for x, y in points]


def textures(rng, n=8):
    """Muted background textures, shared by all classes so that a background tells nothing
    of the class (and the shape, so its motion, stands out)."""
    return [np.asarray(Image.fromarray(rng.integers(0, 256, (8, 8, 3)).astype(np.uint8))
                       .resize((SIZE, SIZE), Image.BICUBIC), dtype=np.float32) * 0.3 + 90
            for _ in range(n)]


def render(motion, rng, background):
    """FRAMES x SIZE x SIZE x 3 bytes of one video."""
    hue = rng.uniform(0, 1)
    colour = tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hue, 1.0, rng.choice([0.35, 1.0])))
    kind = ['square', 'triangle', 'L'][rng.integers(3)]
    size = rng.uniform(24, 36)
    params = Frozen(rng)
    x0, y0 = rng.uniform(38, SIZE - 38, 2)
    angle0 = rng.uniform(0, 2 * math.pi)
    drift = rng.uniform(0, 2 * math.pi, 3)
    frames = np.empty((FRAMES, SIZE, SIZE, 3), np.uint8)
    for t in range(FRAMES):
        params.reset()
        state = motion(t - FRAMES // 2, params)
        tint = 15 * np.sin(drift + t * 0.15)  # the background changes colour over time
        noise = rng.normal(0, 2, (SIZE, SIZE, 1))  # and flickers
        img = Image.fromarray(np.clip(background + tint + noise, 0, 255).astype(np.uint8))
        scale, angle = state.get('scale', 1.0), angle0 + state.get('angle', 0.0)
        cx, cy = x0 + state.get('dx', 0.0), y0 + state.get('dy', 0.0)
        points = [(cx + scale * (px * math.cos(angle) - py * math.sin(angle)),
                   cy + scale * (px * math.sin(angle) + py * math.cos(angle)))
                  for px, py in polygon(kind, size)]
        ImageDraw.Draw(img).polygon(points, fill=colour)
        frames[t] = np.asarray(img)
    return frames


def write_mp4(frames, path):
    command = ['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'rawvideo',
               '-pix_fmt', 'rgb24', '-s', f'{SIZE}x{SIZE}', '-r', str(FPS), '-i', '-',
               '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-crf', '18', path]
    subprocess.run(command, input=frames.tobytes(), check=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dst')
    parser.add_argument('--classes', choices=sorted(CLASS_SETS), default='main')
    parser.add_argument('--per_class', type=int, default=72, help='training videos per class')
    parser.add_argument('--held_out', type=int, default=10,
                        help='validation and test videos per class (each)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    motions = CLASS_SETS[args.classes]
    rng = np.random.default_rng([args.seed, sorted(CLASS_SETS).index(args.classes)])
    backgrounds = textures(rng)
    jobs, rows = [], {'train': [], 'val': [], 'test': []}
    for motion in motions:
        label = motion.__name__.replace('_', ' ')
        splits = ['train'] * args.per_class + ['val'] * args.held_out + ['test'] * args.held_out
        for i, split in enumerate(splits):
            video_id = f'{motion.__name__}{i:03d}'
            key = f'{video_id}_000000_{FRAMES // FPS + 1:06d}'
            folder = os.path.join(args.dst, 'videos', label)
            os.makedirs(folder, exist_ok=True)
            jobs.append((motion, np.random.default_rng(rng.integers(2 ** 63)),
                         backgrounds[rng.integers(len(backgrounds))],
                         os.path.join(folder, key + '.mp4')))
            rows[split].append({'label': label, 'youtube_id': video_id, 'time_start': 0,
                                'time_end': FRAMES // FPS + 1, 'split': split})
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(lambda job: write_mp4(render(*job[:3]), job[3]), jobs))
    for split, split_rows in rows.items():
        with open(os.path.join(args.dst, f'{split}.csv'), 'w', newline='') as f:
            writer = csv.DictWriter(f, ['label', 'youtube_id', 'time_start', 'time_end',
                                        'split'])
            writer.writeheader()
            writer.writerows(split_rows)
    print(f'wrote {len(jobs)} videos of {len(motions)} classes to {args.dst}/videos')


if __name__ == '__main__':
    sys.exit(main())
