"""Clip loading speed: the training pipeline frame by frame (PIL + per-frame tensors, as the
reference did) against the clip path used by the datasets, on 427x240 JPEG frames made by
ffmpeg as the Kinetics preparation makes them (needs ffmpeg).

    python bench/loader.py [--frames 64] [--clips 200]

Prints clips per second of each and their ratio; both produce identical tensors (checked).
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datasets.names import FRAME_FILE_FFMPEG  # noqa: E402
import spatial_transforms as st  # noqa: E402
from datasets.videodataset import frame_path, transform_clip, video_loader  # noqa: E402
from mean import get_mean  # noqa: E402
from temporal_transforms import TemporalRandomCrop  # noqa: E402


def write_frames(folder, n):
    """Frames as utils_scripts/video_jpg_kinetics.py makes them (ffmpeg, scale=-1:240,
    default JPEG quality), from a moving, textured, noisy 640x360 test video."""
    video = os.path.join(folder, 'source.mp4')
    sources = ('testsrc2=size=640x360:rate=30',
               'life=size=640x360:rate=30:mold=10:ratio=0.5:life_color=#e0c080')
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', sources[0],
                    '-f', 'lavfi', '-i', sources[1], '-filter_complex',
                    '[0][1]blend=all_mode=average,noise=alls=8:allf=t', '-frames:v', str(n),
                    '-pix_fmt', 'yuv420p', video], check=True)
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-i', video, '-vf',
                    'scale=-1:240', os.path.join(folder, FRAME_FILE_FFMPEG)], check=True)
    os.remove(video)


def reference_loader(video_dir, frame_indices):
    """The reference's way: open each frame and convert it to RGB, every time."""
    clip = []
    for i in frame_indices:
        with open(frame_path(video_dir, i), 'rb') as f:
            with Image.open(f) as img:
                clip.append(img.convert('RGB'))
    return clip


def reference_to_tensor(pic, norm_value):
    """The reference's ToTensor: bytes -> H x W x C -> C x H x W -> float / norm_value."""
    img = torch.frombuffer(bytearray(pic.tobytes()), dtype=torch.uint8)
    img = img.view(pic.size[1], pic.size[0], 3).transpose(0, 1).transpose(0, 2).contiguous()
    return img.float().div(norm_value)


def reference_normalize(tensor, mean, std):
    for t, m, s in zip(tensor, mean, std):
        t.sub_(m).div_(s)
    return tensor


def frame_by_frame(spatial, video_dir, frame_indices):
    """The reference's way: PIL steps, then tensor conversion and normalisation per frame."""
    spatial.randomize_parameters()
    *pil_steps, to_tensor, normalize = spatial.transforms
    clip = []
    for img in reference_loader(video_dir, frame_indices):
        for step in pil_steps:
            img = step(img)
        tensor = reference_to_tensor(img, to_tensor.norm_value)
        clip.append(reference_normalize(tensor, normalize.mean, normalize.std))
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


def per_frame_ms(fn, n_frames, repeats=3):
    """Mean milliseconds of fn(i) over all frames, best of `repeats`."""
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(1, n_frames + 1):
            fn(i)
        best = min(best, (time.perf_counter() - start) / n_frames * 1000)
    return best


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
        decode_ms = per_frame_ms(lambda i: Image.open(frame_path(video_dir, i)).load(),
                                 args.frames)
        frame = video_loader(video_dir, [1])[0]
        crop = spatial.transforms[0]
        crop_ms = per_frame_ms(lambda i: (crop.randomize_parameters(), crop(frame)),
                               args.frames * 4)
        best = {'frame by frame': 0.0, 'clip path': 0.0}
        for r in range(args.rounds):  # interleaved rounds, best of each
            best['frame by frame'] = max(best['frame by frame'], measure(
                frame_by_frame, spatial, video_dir, args.frames, args.clips, r))
            best['clip path'] = max(best['clip path'], measure(
                clip_path, spatial, video_dir, args.frames, args.clips, r))
    print(f'{frame.size[0]}x{frame.size[1]} JPEG decode: {decode_ms:.3f} ms/frame; '
          f'PIL crop + resize: {crop_ms:.3f} ms/frame; both are needed for PIL-identical '
          f'pixels: floor {1000 / (16 * (decode_ms + crop_ms)):.1f} clips/s')
    for name, rate in best.items():
        print(f'{name:15s} {rate:7.1f} clips/s  ({1000 / rate:.2f} ms/clip)')
    print(f'ratio clip path / frame by frame: {best["clip path"] / best["frame by frame"]:.2f}x')


if __name__ == '__main__':
    main()
