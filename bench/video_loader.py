"""Clips from video files against clips from JPEG frame folders, for the same footage, one
process, one thread (needs ffmpeg):

    python bench/video_loader.py [--videos 6] [--seconds 10] [--clips 300] [--rounds 5]
                                 [--index_videos 5000]

Makes `--videos` 640x360 30 fps source videos of real-looking generated scenes (a test
pattern, a fractal zoom, moving gradients, a moving fractal; blended, with texture), then
prepares them both ways as a user would: frames with the Kinetics extractor (`scale=-1:240`,
JPEG) and videos with utils_scripts/video_reencode.py (short side 240, a key frame every 16
frames, tuned for fast decoding; and once more with x264's default tuning, to compare).
Measures, through the datasets main.py builds:

- training: random clips (default pipeline: multi-scale corner crop 112, flip) per second,
  with the native clip core and without it (the Python path); and JPEG frames on the PIL
  path (PIL decoding and transforms, as training took before it decoded with torchcodec);
- test pass: every window of every video, in order (Scale 112, corner crop), per second;
- where a video clip's time goes: opening the file, decoding (with the seek), transforms;
- disk: the frame folders against the re-encoded videos;
- the video index: building it for --index_videos files (hard links to one video, in class
  folders of 400) and starting again from its cache.
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import native  # noqa: E402
from datasets.factory import make_dataset  # noqa: E402
from datasets.jpeg_frames import video_loader  # noqa: E402
from opts import parse_opts  # noqa: E402
from recipes.cvpr2018 import RECIPE, test_transforms  # noqa: E402
from utils_scripts.frames import extract  # noqa: E402
from utils_scripts.video_reencode import reencode  # noqa: E402

SCENES = [  # moving scenes that compress about as camera footage does (0.05-1.2 Mbit/s)
    'testsrc2=size=640x360:rate=30',
    'mandelbrot=size=640x360:rate=30',
    'gradients=size=640x360:rate=30:speed=0.02:seed={seed}',
    'sierpinski=size=640x360:rate=30:seed={seed}',
]


def training_set(opt):
    """The training set as main.py builds it (the CVPR 2018 recipe's)."""
    return RECIPE.training_set(RECIPE.data_source(opt), RECIPE.clip_settings(opt))


def test_pass_set(opt):
    """The training videos cut into the test pass's windows, with its transforms."""
    clips = RECIPE.clip_settings(opt)
    return make_dataset(RECIPE.data_source(opt), clips, 'training', 'test', 0,
                        test_transforms(clips))


def make_source(path, i, seconds):
    """A source video: two scenes blended, a fixed pattern of grain (texture), near-lossless
    H.264."""
    a = SCENES[i % len(SCENES)].format(seed=i)
    b = SCENES[(i + 1) % len(SCENES)].format(seed=i + 1)
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', a,
                    '-f', 'lavfi', '-i', b, '-filter_complex',
                    '[0][1]blend=all_mode=average,noise=alls=6:allf=p', '-t', str(seconds),
                    '-c:v', 'libx264', '-crf', '12', '-pix_fmt', 'yuv420p', path], check=True)


def folder_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path)
               for f in files)


def prepare(root, n_videos, seconds):
    """Sources, frame folders, re-encoded videos (tuned for fast decoding, and with x264's
    default tuning) and an annotation file; returns paths."""
    import json
    frames, videos = os.path.join(root, 'jpg', 'c'), os.path.join(root, 'videos', 'c')
    untuned = os.path.join(root, 'untuned', 'c')
    for folder in (frames, videos, untuned):
        os.makedirs(folder)
    database = {}
    for i in range(n_videos):
        key = f'v{i:02d}'
        source = os.path.join(root, f'{key}.mp4')
        make_source(source, i, seconds)
        assert extract(source, os.path.join(frames, key), 240) is None
        n = len(os.listdir(os.path.join(frames, key)))
        with open(os.path.join(frames, key, 'n_frames'), 'w') as f:
            f.write(str(n))
        assert reencode(source, os.path.join(videos, key + '.mp4'), 240, 16, 23, 'fast') is None
        assert reencode(source, os.path.join(untuned, key + '.mp4'), 240, 16, 23, 'fast',
                        'none') is None
        database[key] = {'subset': 'training', 'annotations': {'label': 'c'}}
    annotation = os.path.join(root, 'annotation.json')
    with open(annotation, 'w') as f:
        json.dump({'labels': ['c'], 'database': database}, f)
    return (os.path.dirname(frames), os.path.dirname(videos), os.path.dirname(untuned),
            annotation)


def options(video_path, annotation, *flags):
    sys.argv = ['main.py', '--video_path', video_path, '--annotation_path', annotation,
                '--dataset', 'ucf101', '--n_classes', '1', '--no_cuda', '--test_subset', 'val',
                *flags]
    return parse_opts()


def training_rate(dataset, clips, seed=0):
    random.seed(seed)
    order = [random.randrange(len(dataset)) for _ in range(clips)]
    start = time.perf_counter()
    for i in order:
        dataset[i]
    return clips / (time.perf_counter() - start)


def test_rate(dataset):
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    return len(dataset) / (time.perf_counter() - start)


def video_clip_parts(dataset, clips):
    """Milliseconds per training clip: opening the file (container header, decoder), and
    seeking to the key frame before the clip then decoding to its last frame, in RGB, only
    the clip's crop copied out (as the loader does)."""
    from torchcodec.decoders import VideoDecoder
    from datasets.video_files import box_crop
    random.seed(1)
    opening = decoding = 0.0
    for _ in range(clips):
        index = random.randrange(len(dataset))
        record = dataset.target_record(index)
        numbers = dataset.temporal_transform(record['frame_indices'])
        dataset.spatial_transform.randomize_parameters()
        width, height = dataset.frame_sizes[dataset.span_video[dataset.sample_span[index]]]
        box = dataset.spatial_transform.decoder_crop_box(int(width), int(height))
        start = time.perf_counter()
        decoder = VideoDecoder(record['video'], dimension_order='NHWC', num_ffmpeg_threads=1,
                               seek_mode='approximate', transforms=[box_crop(box)])
        opened = time.perf_counter()
        decoder.get_frames_in_range(min(numbers) - 1, max(numbers))
        opening += opened - start
        decoding += time.perf_counter() - opened
    return 1000 * opening / clips, 1000 * decoding / clips


def index_times(video, n_videos, root):
    """Seconds to build the index of `n_videos` files, then to start again from the cache;
    and the cache's size."""
    import contextlib
    import io
    import json
    from datasets import Kinetics
    from datasets.video_index import cache_path
    folder, database = os.path.join(root, 'many'), {}
    for i in range(n_videos):
        label = f'c{i // 400:03d}'
        os.makedirs(os.path.join(folder, label), exist_ok=True)
        os.link(video, os.path.join(folder, label, f'v{i:06d}.mp4'))
        database[f'v{i:06d}'] = {'subset': 'training', 'annotations': {'label': label}}
    annotation = os.path.join(root, 'many.json')
    with open(annotation, 'w') as f:
        json.dump({'labels': sorted({e['annotations']['label'] for e in database.values()}),
                   'database': database}, f)
    times = []
    for _ in range(2):
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            Kinetics(folder, annotation, 'training', 1)
        times.append(time.perf_counter() - start)
    return times[0], times[1], os.path.getsize(cache_path(annotation, folder))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--videos', type=int, default=6)
    parser.add_argument('--seconds', type=int, default=10)
    parser.add_argument('--clips', type=int, default=300)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--index_videos', type=int, default=5000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as root:
        frames, videos, untuned, annotation = prepare(root, args.videos, args.seconds)
        frames_bytes, video_bytes = folder_bytes(frames), folder_bytes(videos)
        untuned_bytes = folder_bytes(untuned)
        sets = {}
        for name, path in (('JPEG frames', frames), ('videos', videos)):
            for mode in ('default', 'python'):  # with the native core, and without it
                opt = options(path, annotation)
                sets[name, 'train', mode] = training_set(opt)
            opt = options(path, annotation)
            # The test pass's windows and transforms, over the training subset.
            sets[name, 'test', 'default'] = test_pass_set(opt)
        opt = options(untuned, annotation)
        sets['untuned', 'train', 'default'] = training_set(opt)
        sets['untuned', 'test', 'default'] = test_pass_set(opt)
        # The PIL clip path: training's before it decoded with torchcodec.
        opt = options(frames, annotation)
        sets['JPEG frames', 'train', 'pil'] = training_set(opt)
        sets['JPEG frames', 'train', 'pil'].loader = lambda d, numbers: video_loader(d, numbers)
        assert not sets['JPEG frames', 'train', 'pil'].decodes_to_tensors()
        for dataset in sets.values():  # warm: file cache, decoder libraries
            training_rate(dataset, 10)
        runs = {key: [] for key in sets}
        # Interleaved rounds, the median of each: this machine drifts by up to a third
        # between minutes, and one way's rate varies with the round's clips.
        for r in range(args.rounds):
            for key, dataset in sets.items():
                native.disabled = key[2] == 'python'
                runs[key].append(test_rate(dataset) if key[1] == 'test' else
                                 training_rate(dataset, args.clips, r))
                native.disabled = False
        rates = {key: statistics.median(values) for key, values in runs.items()}
        opening, decoding = video_clip_parts(sets['videos', 'train', 'default'], args.clips // 3)
        per_clip = 1000 / rates['videos', 'train', 'default']
        if args.index_videos:
            index = index_times(os.path.join(videos, 'c', 'v00.mp4'), args.index_videos, root)
    seconds = args.videos * args.seconds
    print(f'{args.videos} videos of {args.seconds} s, 240 pixels high; re-encoded at '
          f'{8 * video_bytes / seconds / 1000:.0f} kbit/s')
    print(f'disk: JPEG frames {frames_bytes / 1e6:.1f} MB, videos {video_bytes / 1e6:.1f} MB '
          f'({frames_bytes / video_bytes:.1f}x smaller); with x264\'s default tuning '
          f'{untuned_bytes / 1e6:.1f} MB ({frames_bytes / untuned_bytes:.1f}x smaller)')
    print(f'{"clips/s, one process (median)":30s} {"JPEG frames":>11s} {"videos":>8s}  ratio')
    for what in (('train', 'default'), ('train', 'python'), ('test', 'default')):
        a, b = rates[('JPEG frames',) + what], rates[('videos',) + what]
        label = {'default': 'training' if what[0] == 'train' else 'test pass (in order)',
                 'python': 'training, no native core'}[what[1]]
        print(f'{label:30s} {a:11.1f} {b:8.1f}  {b / a:.2f}')
    a, b = rates['JPEG frames', 'train', 'pil'], rates['videos', 'train', 'default']
    print(f'{"training, JPEG on the PIL path":30s} {a:11.1f} {b:8.1f}  {b / a:.2f}')
    for what in ('train', 'test'):
        a, b = rates['videos', what, 'default'], rates['untuned', what, 'default']
        label = 'training' if what == 'train' else 'test pass'
        print(f'{label}, videos with x264\'s default tuning: {b:.1f} clips/s '
              f'({a / b:.2f}x slower than tuned for fast decoding)')
    print(f'a video training clip: {per_clip:.1f} ms = opening {opening:.1f} + seeking and '
          f'decoding 16 frames to RGB (the crop copied out) {decoding:.1f} + transforms '
          f'{per_clip - opening - decoding:.1f}')
    if args.index_videos:
        first, again, cache_bytes = index
        print(f'index of {args.index_videos} videos: built in {first:.1f} s '
              f'({os.cpu_count()} processes), from the cache in {again:.2f} s; cache '
              f'{cache_bytes / 1e6:.2f} MB')


if __name__ == '__main__':
    main()
