"""Clip loading speed of the training pipeline, one process, one thread, on 427x240 JPEG
frames made by ffmpeg as the Kinetics preparation makes them (real-looking generated
footage; needs ffmpeg):

    frame by frame   the reference: PIL decode, crop, resize, flip, then a tensor and
                     normalisation per frame
    PIL clip path    validation's and test's (and training's without torchcodec): PIL per
                     frame, tensors per clip; identical to frame by frame
    training         the default of training: torchcodec decodes, the crop is a view, PIL
                     resizes it; identical to frame by frame
    fast path        --fast_training_clips: as training, with one uint8 resize of the clip
                     (PyTorch's kernel); up to 2 grey levels off
    float resize     the fast path resizing in float instead (within 1 grey level; not
                     used: slower than PIL on the CPU)

    python bench/loader.py [--frames 64] [--clips 200] [--rounds 3] [--epoch_videos 256]

Prints clips per second of each and their ratio to frame by frame; then clips/s of a
main.py training epoch (ResNet-10, --sample_size 16, batch 8, one loader process) over
--epoch_videos videos (links to the same frames) with and without --fast_training_clips.
"""
import argparse
import os
import random
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import spatial_transforms as st  # noqa: E402
from datasets.decoding import tensor_video_loader, video_loader  # noqa: E402
from datasets.names import frame_path  # noqa: E402
from datasets.videodataset import transform_clip  # noqa: E402
from tests.datagen import write_footage_frames  # noqa: E402
from bench.train_speed import timed_epoch  # noqa: E402
from mean import get_mean  # noqa: E402
from temporal_transforms import TemporalRandomCrop  # noqa: E402


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


def tensor_path(resize):
    """The training path on decoded frames, resized by 'pil' or 'torch'."""
    def way(spatial, video_dir, frame_indices):
        spatial.transforms[0].tensor_resize = resize
        return transform_clip(spatial, tensor_video_loader(video_dir, frame_indices))
    return way


fast_path = tensor_path('torch')


def float_resize(frames, box, size):
    """crop_and_resize in float, rounded once: within 1 grey level of PIL's two roundings."""
    left, top, right, bottom = box
    crops = torch.stack([f[:, top:bottom, left:right] for f in frames]).float()
    return F.interpolate(crops, size=(size, size), mode='bilinear', antialias=True,
                         align_corners=False).round_().clamp_(0, 255)


def float_path(spatial, video_dir, frame_indices):
    original = st.crop_and_resize
    st.crop_and_resize = float_resize
    try:
        return fast_path(spatial, video_dir, frame_indices)
    finally:
        st.crop_and_resize = original


def training_pipeline():
    scales = [0.84089641525 ** i for i in range(5)]
    return st.Compose([st.MultiScaleCornerCrop(scales, 112), st.RandomHorizontalFlip(),
                       st.ToTensor(1), st.Normalize(get_mean(1, 'activitynet'), [1, 1, 1])],
                      tensor_frames=True)


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


def largest_difference(fn, spatial, video_dir, n_frames):
    """Largest difference from frame by frame over every scale, position and flip."""
    crop, flip = spatial.transforms[:2]
    frames = list(range(1, 17))
    worst = 0.0
    saved = crop.randomize_parameters, flip.randomize_parameters
    crop.randomize_parameters = flip.randomize_parameters = lambda: None
    try:
        for crop.scale in crop.scales:
            for crop.crop_position in crop.crop_positions:
                for flip.p in (0.2, 0.8):
                    a = frame_by_frame(spatial, video_dir, frames)
                    worst = max(worst, (fn(spatial, video_dir, frames) - a).abs().max().item())
    finally:
        crop.randomize_parameters, flip.randomize_parameters = saved
    return worst


def epoch_rates(frames_dir, n_videos):
    """Clips/s of a main.py training epoch, default and --fast_training_clips."""
    import contextlib
    import io
    import json
    with tempfile.TemporaryDirectory() as root:
        database = {}
        for i in range(n_videos):
            folder = os.path.join(root, 'jpg', f'c{i % 4}')
            os.makedirs(folder, exist_ok=True)
            os.symlink(frames_dir, os.path.join(folder, f'v{i:04d}'))
            database[f'v{i:04d}'] = {'subset': 'training', 'annotations': {'label': f'c{i % 4}'}}
        annotation = os.path.join(root, 'annotation.json')
        with open(annotation, 'w') as f:
            json.dump({'labels': [f'c{i}' for i in range(4)], 'database': database}, f)
        argv = ['--video_path', os.path.join(root, 'jpg'), '--annotation_path', annotation,
                '--dataset', 'ucf101', '--n_classes', '4', '--model_depth', '10', '--no_cuda',
                '--batch_size', '8', '--n_threads', '1', '--n_epochs', '2', '--no_val',
                '--sample_size', '16', '--sample_duration', '16']
        rates = {}
        for name, flags in (('default', []), ('--fast_training_clips', ['--fast_training_clips'])):
            with contextlib.redirect_stdout(io.StringIO()):
                rates[name] = timed_epoch(argv + flags, n_videos)
        return rates


WAYS = {'frame by frame': frame_by_frame, 'PIL clip path': clip_path,
        'training': tensor_path('pil'), 'fast path': fast_path, 'float resize': float_path}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--frames', type=int, default=64)
    parser.add_argument('--clips', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--epoch_videos', type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as video_dir:
        write_footage_frames(video_dir, args.frames)
        spatial = training_pipeline()
        differences = {name: largest_difference(fn, spatial, video_dir, args.frames)
                       for name, fn in WAYS.items()}
        decode_ms = per_frame_ms(lambda i: Image.open(frame_path(video_dir, i)).load(),
                                 args.frames)
        torchcodec_ms = per_frame_ms(lambda i: tensor_video_loader(video_dir, [i]), args.frames)
        frame = video_loader(video_dir, [1])[0]
        crop = spatial.transforms[0]
        crop_ms = per_frame_ms(lambda i: (crop.randomize_parameters(), crop(frame)),
                               args.frames * 4)
        best = dict.fromkeys(WAYS, 0.0)
        for r in range(args.rounds):  # interleaved rounds, best of each
            for name, fn in WAYS.items():
                best[name] = max(best[name], measure(fn, spatial, video_dir, args.frames,
                                                     args.clips, r))
        epochs = epoch_rates(video_dir, args.epoch_videos) if args.epoch_videos else {}
    print(f'{frame.size[0]}x{frame.size[1]} JPEG decode: PIL {decode_ms:.3f} ms/frame, '
          f'torchcodec {torchcodec_ms:.3f} ms/frame; PIL crop + resize: {crop_ms:.3f} ms/frame')
    print(f'{"":15s} {"clips/s":>7s}  {"ms/clip":>7s}  ratio  largest difference (grey levels)')
    for name, rate in best.items():
        print(f'{name:15s} {rate:7.1f}  {1000 / rate:7.2f}  {rate / best["frame by frame"]:4.2f}x'
              f'  {differences[name]:.0f}')
    for name, rate in epochs.items():
        print(f'main.py epoch, {name}: {rate:.1f} clips/s ({rate / epochs["default"]:.2f}x)')


if __name__ == '__main__':
    main()
