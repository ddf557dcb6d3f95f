"""Clip loading speed: the training pipeline frame by frame (PIL + per-frame tensors, as the
reference did) against the clip path used by the datasets, on 426x240 JPEG frames.

    python bench/loader.py [--frames 64] [--clips 200]

Prints clips per second of each and their ratio; both produce identical tensors (checked).
"""
import argparse
import os
import random
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import spatial_transforms as st  # noqa: E402
from datasets.videodataset import frame_path, transform_clip, video_loader  # noqa: E402
from mean import get_mean  # noqa: E402
from temporal_transforms import TemporalRandomCrop  # noqa: E402


def write_frames(folder, n, width=426, height=240, seed=0):
    """Real-looking frames: textured background, moving shapes, blur, JPEG quality 90."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    background = Image.fromarray(base).resize((width, height), Image.BICUBIC)
    for i in range(1, n + 1):
        img = background.copy()
        draw = ImageDraw.Draw(img)
        for k in range(6):
            x = (37 * k + 5 * i) % width
            y = (53 * k + 3 * i) % height
            draw.ellipse((x, y, x + 40, y + 30), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        img = img.filter(ImageFilter.GaussianBlur(0.8))
        noise = rng.normal(0, 6, (height, width, 3))
        img = Image.fromarray(np.clip(np.asarray(img) + noise, 0, 255).astype(np.uint8))
        img.save(frame_path(folder, i), quality=90)


def reference_loader(video_dir, frame_indices):
    """The reference's way: open each frame and convert it to RGB, every time."""
    clip = []
    for i in frame_indices:
        with open(frame_path(video_dir, i), 'rb') as f:
            with Image.open(f) as img:
                clip.append(img.convert('RGB'))
    return clip


def frame_by_frame(spatial, video_dir, frame_indices):
    spatial.randomize_parameters()
    clip = [spatial(img) for img in reference_loader(video_dir, frame_indices)]
    return torch.stack(clip, 0).permute(1, 0, 2, 3)


def clip_path(spatial, video_dir, frame_indices):
    return transform_clip(spatial, video_loader(video_dir, frame_indices))


def training_pipeline():
    scales = [0.84089641525 ** i for i in range(5)]
    return st.Compose([st.MultiScaleCornerCrop(scales, 112), st.RandomHorizontalFlip(),
                       st.ToTensor(1), st.Normalize(get_mean(1, 'activitynet'), [1, 1, 1])])


def measure(fn, spatial, video_dir, n_frames, clips, seed):
    random.seed(seed)
    crop = TemporalRandomCrop(16)
    frames = list(range(1, n_frames + 1))
    start = time.perf_counter()
    for _ in range(clips):
        fn(spatial, video_dir, crop(frames))
    return clips / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--frames', type=int, default=64)
    parser.add_argument('--clips', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as video_dir:
        write_frames(video_dir, args.frames)
        spatial = training_pipeline()
        for seed in range(5):  # same draws, same tensors
            random.seed(seed)
            frames = TemporalRandomCrop(16)(list(range(1, args.frames + 1)))
            random.seed(seed)
            a = frame_by_frame(spatial, video_dir, frames)
            random.seed(seed)
            b = clip_path(spatial, video_dir, frames)
            assert torch.equal(a, b), 'clip path differs from frame by frame'
        t0 = time.perf_counter()
        for i in range(1, 101):
            Image.open(frame_path(video_dir, i % args.frames + 1)).load()
        decode_ms = (time.perf_counter() - t0) * 10
        best = {'frame by frame': 0.0, 'clip path': 0.0}
        for r in range(args.rounds):  # interleaved rounds, best of each
            best['frame by frame'] = max(best['frame by frame'], measure(
                frame_by_frame, spatial, video_dir, args.frames, args.clips, r))
            best['clip path'] = max(best['clip path'], measure(
                clip_path, spatial, video_dir, args.frames, args.clips, r))
    print(f'426x240 JPEG decode: {decode_ms:.3f} ms/frame -> 16-frame floor '
          f'{1000 / (16 * decode_ms):.1f} clips/s')
    for name, rate in best.items():
        print(f'{name:15s} {rate:7.1f} clips/s  ({1000 / rate:.2f} ms/clip)')
    print(f'ratio clip path / frame by frame: {best["clip path"] / best["frame by frame"]:.2f}x')


if __name__ == '__main__':
    main()
