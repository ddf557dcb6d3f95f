"""inference.py's speed on generated H.264 videos of real-footage-like content (needs ffmpeg).

    python bench/inference.py [--seconds 10] [--model_depth 18]

1. Input side, one process and one thread: test clips (16 frames, Scale 112, centre crop,
   mean subtraction) per second, straight from each video file (datasets/clip_stream.py)
   against the way the reference's authors extracted features: ffmpeg writes every frame as
   a JPEG into a folder, then PIL reads the frames back and transforms them frame by frame.
   Both give identical tensors for identical frames; here the decoded frames differ by the
   JPEG round trip only.
2. The whole job (`inference.py` on six copies of each video, one loader worker, the model
   on all cores) against the model's forward passes alone on as many clips.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import inference  # noqa: E402
from datasets.clip_stream import ClipStream, Source, window_starts  # noqa: E402
from datasets.names import FRAME_FILE_FFMPEG, frame_path  # noqa: E402
from recipes.cvpr2018 import RECIPE, test_transforms  # noqa: E402
from models.factory import build_model  # noqa: E402
from models.registry import ModelSpec  # noqa: E402
from opts import parse_opts  # noqa: E402
from temporal_transforms import LoopPadding  # noqa: E402

# size, and the bit rate of the same height on a video site (the content decides how much
# decoding costs: without a rate, the generated noise would take 35 Mbit/s at 720p)
SIZES = {'240p': ('426x240', '400k'), '480p': ('854x480', '1200k'),
         '720p': ('1280x720', '2500k')}


def make_video(path, size, bit_rate, seconds, rate=30):
    """Moving, textured, noisy content: closer to camera footage than a plain test card."""
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y',
                    '-f', 'lavfi', '-i', f'testsrc2=size={size}:rate={rate}',
                    '-f', 'lavfi', '-i', f'life=size={size}:rate={rate}:mold=10:ratio=0.5:'
                                         'life_color=#e0c080',
                    '-filter_complex', '[0][1]blend=all_mode=average,noise=alls=8:allf=t',
                    '-frames:v', str(seconds * rate), '-c:v', 'libx264', '-b:v', bit_rate,
                    '-pix_fmt', 'yuv420p', path], check=True)


def reference_clips(video, folder, spatial, duration):
    """ffmpeg -> JPEG folder -> PIL, frame-by-frame transforms (one thread each)."""
    os.makedirs(folder)
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-threads', '1', '-i', video,
                    '-threads', '1', os.path.join(folder, FRAME_FILE_FFMPEG)], check=True)
    n_frames = len(os.listdir(folder))
    count = 0
    for start in window_starts(n_frames, duration):
        frames = LoopPadding(duration)(list(range(start, min(start + duration, n_frames + 1))))
        clip = []
        for i in frames:
            with Image.open(frame_path(folder, i)) as img:
                clip.append(spatial(img.convert('RGB')))
        torch.stack(clip, 1)
        count += 1
    shutil.rmtree(folder)
    return count


def stream_clips(video, spatial, duration):
    return sum(1 for item in ClipStream([Source('v', video, False)], spatial, duration,
                                        duration) if item.error is None)


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def input_side(videos, tmp):
    opt = parse_opts(['--no_cuda'])
    spatial = test_transforms(RECIPE.clip_settings(opt))[0]
    torch.set_num_threads(1)
    print(f'{"video":8} {"clips":>5} {"reference clips/s":>18} {"from file clips/s":>18} '
          f'{"ratio":>6}')
    for name, video in videos.items():
        best_ref = best_ours = float('inf')
        for r in range(2):  # interleaved, best of two
            n, t = timed(reference_clips, video, os.path.join(tmp, f'{name}{r}'), spatial,
                         opt.sample_duration)
            best_ref = min(best_ref, t)
            n2, t = timed(stream_clips, video, spatial, opt.sample_duration)
            best_ours = min(best_ours, t)
            assert n == n2
        print(f'{name:8} {n:5d} {n / best_ref:18.1f} {n / best_ours:18.1f} '
              f'{best_ref / best_ours:6.2f}', flush=True)
    torch.set_num_threads(os.cpu_count())


def whole_job(videos, tmp, depth):
    """inference.py on each video (one loader worker) against the forward passes alone."""
    model_flags = ['--model_depth', str(depth), '--resnet_shortcut', 'A' if depth < 50 else 'B']
    opt = parse_opts(['--no_cuda', *model_flags])
    torch.manual_seed(0)
    model = build_model(ModelSpec.from_options(opt), 400).eval()
    checkpoint = os.path.join(tmp, 'model.pth')
    torch.save({'arch': opt.arch, 'state_dict': model.state_dict()}, checkpoint)
    batch = torch.randn(8, 3, opt.sample_duration, opt.sample_size, opt.sample_size)
    print(f'resnet-{depth}, batches of 8: {"video":8} {"clips":>5} {"job s":>6} '
          f'{"forward s":>9} {"ratio":>6}')
    for name, video in videos.items():
        folder = os.path.join(tmp, f'copies_{name}')  # the video 6 times: start-up amortised
        os.makedirs(folder)
        for i in range(6):
            os.link(video, os.path.join(folder, f'{i}.mp4'))
        output = os.path.join(tmp, f'out_{name}')
        start = time.perf_counter()
        try:
            inference.main([folder, '--output', output, '--resume_path', checkpoint, '--no_cuda',
                            *model_flags, '--batch_size', '8', '--n_threads', '1'])
        except SystemExit as e:
            assert e.code == 0, e.code
        job = time.perf_counter() - start
        with open(os.path.join(output, 'results.json')) as f:
            n_clips = sum(len(c) for c in json.load(f)['clips'].values())
        start = time.perf_counter()
        with torch.no_grad():
            for done in range(0, n_clips, 8):
                model(batch[:min(8, n_clips - done)])
        forward = time.perf_counter() - start
        print(f'{"":27}{name:8} {n_clips:5d} {job:6.2f} {forward:9.2f} {job / forward:6.2f}',
              flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--seconds', type=int, default=10)
    parser.add_argument('--model_depth', type=int, default=18)
    args = parser.parse_args()
    print(f'torch {torch.__version__}, {os.cpu_count()} cores')
    with tempfile.TemporaryDirectory() as tmp:
        videos = {}
        for name, (size, bit_rate) in SIZES.items():
            videos[name] = os.path.join(tmp, f'{name}.mp4')
            make_video(videos[name], size, bit_rate, args.seconds)
        input_side(videos, tmp)
        whole_job(videos, tmp, args.model_depth)


if __name__ == '__main__':
    main()
