"""Clip loading speed of the training pipeline, one process, one thread, on 240-line JPEG
frames made by ffmpeg as the Kinetics preparation makes them (real-looking generated
footage; needs ffmpeg), at three frame sizes (427x240, 565x240, 320x240):

    reference        the reference's way: PIL decode and RGB copy, crop, resize, flip,
                     then a tensor and normalisation per frame
    Python path      training without the native core: torchcodec decodes, the crop is a
                     view, PIL resizes it; identical to the reference
    fast path        the same with --fast_training_clips (PyTorch's uint8 resize of the
                     clip); up to 2 grey levels off
    native           the native core (native/clipcore.c): one call per clip decoding the
                     crop's band and resizing it exactly; identical to the reference
    __getitem__ ...  the dataset's own __getitem__ (what loader workers call), with the
                     core and without it
    val ...          validation's pipeline (Scale 112, centre crop): the reference's way,
                     the Python path (PIL per frame, tensors per clip), the core
    inference ...    inference.py's clip stream over frame folders (the test pass's
                     transform), with the core and without it (the ratio: to the latter)

    python bench/loader.py [--frames 64] [--clips 200] [--rounds 5] [--epoch_videos 256]

Prints, per frame size, clips per second of each way (the median of interleaved rounds),
its ratio to the reference and its largest difference from it over every scale, position
and flip; per-frame decoding and resizing times; then clips/s of a main.py training epoch
(ResNet-10, --sample_size 16, batch 8, one loader process) over --epoch_videos videos
(links to the same frames) with the core and without it.
"""
import argparse
import contextlib
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time

import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import native  # noqa: E402
import spatial_transforms as st  # noqa: E402
from clip_settings import ClipSettings  # noqa: E402
from native.plans import plan as native_plan  # noqa: E402
from datasets.clip_stream import ClipStream, Source  # noqa: E402
from datasets.jpeg_frames import tensor_video_loader, video_loader  # noqa: E402
from recipes.cvpr2018 import test_transforms  # noqa: E402
from datasets.names import frame_path  # noqa: E402
from datasets.videodataset import dataset_class, transform_clip  # noqa: E402
from tests.datagen import write_footage_frames  # noqa: E402
from bench.train_speed import timed_epoch  # noqa: E402
from mean import get_mean  # noqa: E402
from temporal_transforms import TemporalRandomCrop  # noqa: E402

FRAME_SIZES = ((427, 240), (565, 240), (320, 240))


@contextlib.contextmanager
def python_path():
    """The native core switched off: what training does where it is not built."""
    native.disabled = True
    try:
        yield
    finally:
        native.disabled = False


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


def reference(spatial, video_dir, frame_indices):
    """The reference's way: PIL steps, then tensor conversion and normalisation per frame."""
    *pil_steps, to_tensor, normalize = spatial.transforms
    clip = []
    for img in reference_loader(video_dir, frame_indices):
        for step in pil_steps:
            img = step(img)
        tensor = reference_to_tensor(img, to_tensor.norm_value)
        clip.append(reference_normalize(tensor, normalize.mean, normalize.std))
    return torch.stack(clip, 0).permute(1, 0, 2, 3)


def python_path_way(resize):
    """Training on decoded tensor frames without the core, resized by 'pil' or 'torch'."""
    def way(spatial, video_dir, frame_indices):
        spatial.transforms[0].tensor_resize = resize
        try:
            with python_path():
                return transform_clip(spatial, tensor_video_loader(video_dir, frame_indices),
                                      randomized=True)
        finally:
            spatial.transforms[0].tensor_resize = 'pil'
    return way


def native_way(spatial, video_dir, frame_indices):
    clip = native.clip_from_jpegs([frame_path(video_dir, i) for i in frame_indices],
                                  frame_indices, native_plan(spatial))
    assert clip is not None, 'the core left a clip to the Python path'
    return clip


def training_pipeline():
    scales = [0.84089641525 ** i for i in range(5)]
    return st.Compose([st.MultiScaleCornerCrop(scales, 112), st.RandomHorizontalFlip(),
                       st.ToTensor(1), st.Normalize(get_mean(1, 'activitynet'), [1, 1, 1])],
                      tensor_frames=True)


def validation_pipeline():
    return st.Compose([st.Scale(112), st.CenterCrop(112), st.ToTensor(1),
                       st.Normalize(get_mean(1, 'activitynet'), [1, 1, 1])])


def validation_python(spatial, video_dir, frame_indices):
    with python_path():
        return transform_clip(validation, video_loader(video_dir, frame_indices),
                              randomized=True)


def validation_native(spatial, video_dir, frame_indices):
    return native_way(validation, video_dir, frame_indices)


def validation_reference(spatial, video_dir, frame_indices):
    return reference(validation, video_dir, frame_indices)


validation = validation_pipeline()
WAYS = {'reference': reference, 'Python path': python_path_way('pil'),
        'fast path': python_path_way('torch'), 'native': native_way,
        'val reference': validation_reference, 'val Python path': validation_python,
        'val native': validation_native}


def clips_per_second(fn, spatial, video_dir, n_frames, clips, seed):
    """Random clips (parameters drawn, 16-frame random crop) through fn, per second."""
    random.seed(seed)
    crop = TemporalRandomCrop(16)
    frames = list(range(1, n_frames + 1))
    start = time.perf_counter()
    for _ in range(clips):
        spatial.randomize_parameters()
        fn(spatial, video_dir, crop(frames))
    return clips / (time.perf_counter() - start)


def getitem_per_second(dataset, clips, seed):
    random.seed(seed)
    start = time.perf_counter()
    for _ in range(clips):
        dataset[0]
    return clips / (time.perf_counter() - start)


def one_video_dataset(root, frames_dir, n_frames):
    """The training set of main.py's dataset class over one video (the frames)."""
    os.makedirs(os.path.join(root, 'jpg', 'c0'))
    os.symlink(frames_dir, os.path.join(root, 'jpg', 'c0', 'v0'))
    annotation = os.path.join(root, 'annotation.json')
    with open(annotation, 'w') as f:
        json.dump({'labels': ['c0'], 'database': {'v0': {
            'subset': 'training', 'annotations': {'label': 'c0'}}}}, f)
    return dataset_class('ucf101')(os.path.join(root, 'jpg'), annotation, 'training',
                                   spatial_transform=training_pipeline(),
                                   temporal_transform=TemporalRandomCrop(16))


def per_frame_ms(fn, n, repeats=3):
    """Mean milliseconds of fn(i) for i in 1..n, best of `repeats`."""
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(1, n + 1):
            fn(i)
        best = min(best, (time.perf_counter() - start) / n * 1000)
    return best


def largest_difference(fn, spatial, video_dir):
    """Largest difference from the reference over every scale, position and flip."""
    crop, flip = spatial.transforms[:2]
    frames = list(range(1, 17))
    worst = 0.0
    for crop.scale in crop.scales:
        for crop.crop_position in crop.crop_positions:
            for flip.p in (0.2, 0.8):
                if fn.__name__.startswith('validation'):
                    a = validation_reference(spatial, video_dir, frames)
                else:
                    a = reference(spatial, video_dir, frames)
                worst = max(worst, (fn(spatial, video_dir, frames) - a).abs().max().item())
    return worst


def stage_times(spatial, video_dir, n_frames):
    """Per-frame milliseconds of decoding and of crop + resize (+ flip and conversion for
    the core), at the middle scale and the centre."""
    crop = spatial.transforms[0]
    crop.scale, crop.crop_position = crop.scales[2], 'c'
    frame = Image.open(frame_path(video_dir, 1)).convert('RGB')
    decoded = tensor_video_loader(video_dir, list(range(1, 17)))
    plan = native_plan(spatial)
    return {
        'PIL decode': per_frame_ms(lambda i: Image.open(frame_path(video_dir, i)).load(),
                                   n_frames),
        'torchcodec decode': per_frame_ms(lambda i: tensor_video_loader(video_dir, [i]),
                                          n_frames),
        'PIL crop + resize': per_frame_ms(lambda i: crop(frame), 4 * n_frames),
        'native crop + resize + convert': per_frame_ms(
            lambda i: native.clip_from_frames(decoded, plan), 8) / 16,
        'native whole clip': per_frame_ms(
            lambda i: native_way(spatial, video_dir, list(range(1, 17))), 8) / 16,
    }


def measure_size(width, height, args):
    with tempfile.TemporaryDirectory() as root:
        video_dir = os.path.join(root, 'frames')
        write_footage_frames(video_dir, args.frames, height, width)
        spatial = training_pipeline()
        differences = {name: largest_difference(fn, spatial, video_dir)
                       for name, fn in WAYS.items()}
        stages = stage_times(spatial, video_dir, args.frames)
        dataset = one_video_dataset(root, video_dir, args.frames)
        rates = {name: [] for name in [*WAYS, '__getitem__ native', '__getitem__ Python']}
        for r in range(args.rounds):  # interleaved rounds
            for name, fn in WAYS.items():
                rates[name].append(clips_per_second(fn, spatial, video_dir, args.frames,
                                                    args.clips, r))
            rates['__getitem__ native'].append(getitem_per_second(dataset, args.clips, r))
            with python_path():
                rates['__getitem__ Python'].append(getitem_per_second(dataset, args.clips, r))
        streams = stream_rates(video_dir, args.rounds)
    rates = {k: statistics.median(v) for k, v in rates.items()}
    rates.update(streams)
    return rates, differences, stages


def stream_rates(video_dir, rounds, copies=8):
    """inference.py's clips/s (datasets/clip_stream.py) over `copies` of the frame folder,
    the test pass's transform (Scale 112, centre crop), with the core and without it."""
    stream = ClipStream([Source('v', video_dir, True)] * copies,
                        test_transforms(ClipSettings())[0], 16, 16)
    rates = {'inference stream native': [], 'inference stream Python': []}
    for _ in range(rounds):
        for name, switch in (('inference stream native', contextlib.nullcontext),
                             ('inference stream Python', python_path)):
            with switch():
                start = time.perf_counter()
                n = sum(1 for _ in stream)
                rates[name].append(n / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in rates.items()}


def epoch_rates(frames_dir, n_videos):
    """Clips/s of a main.py training epoch, with the native core and without it."""
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
        rates = {'native': [], 'Python path': []}
        for _ in range(2):  # interleaved, the better of two each
            for name, switch in (('native', contextlib.nullcontext),
                                 ('Python path', python_path)):
                with switch(), contextlib.redirect_stdout(io.StringIO()), \
                        contextlib.redirect_stderr(io.StringIO()):
                    rates[name].append(timed_epoch(argv, n_videos))
        return {name: max(values) for name, values in rates.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--frames', type=int, default=64)
    parser.add_argument('--clips', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--epoch_videos', type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if native.library() is None:
        sys.exit(native.unavailable_line())
    for width, height in FRAME_SIZES:
        rates, differences, stages = measure_size(width, height, args)
        print(f'{width}x{height}: per frame, ' + ', '.join(
            f'{name} {ms:.3f} ms' for name, ms in stages.items()))
        print(f'  {"":20s} {"clips/s":>7s}  {"ms/clip":>7s}  ratio  largest difference')
        for name, rate in rates.items():
            difference = differences.get(name, differences['native' if 'native' in name
                                                           else 'Python path'])
            base = rates['inference stream Python' if name.startswith('inference') else
                         'val reference' if name.startswith('val') else 'reference']
            print(f'  {name:20s} {rate:7.1f}  {1000 / rate:7.2f}  '
                  f'{rate / base:4.2f}x  {difference:.0f}')
    if args.epoch_videos:
        with tempfile.TemporaryDirectory() as frames_dir:
            write_footage_frames(frames_dir, args.frames)
            epochs = epoch_rates(frames_dir, args.epoch_videos)
        for name, rate in epochs.items():
            print(f'main.py epoch (427x240), {name}: {rate:.1f} clips/s '
                  f'({rate / epochs["Python path"]:.2f}x)')


if __name__ == '__main__':
    main()
