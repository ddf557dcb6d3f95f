"""inference.py with an exported .onnx (onnxruntime) against the checkpoint (PyTorch), on this
CPU: whole generated H.264 videos, clips/s of the whole job, the results compared.

    python bench/onnx_inference.py [--videos 4] [--seconds 10] [--rounds 3]

For ResNet-18 (CVPR 2018 recipe) and R(2+1)D-18 (2020 recipe) at 112x112x16 with random
weights: the checkpoint is exported once (its time printed), then inference.py runs on the
same videos with the .pth and with the .onnx, in interleaved rounds (one loader worker, the
model on all cores); the median of each is printed, with the largest difference between
their per-video and per-clip scores.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import export  # noqa: E402
import inference  # noqa: E402
from bench.inference import SIZES, make_video  # noqa: E402
from models.factory import build_model  # noqa: E402
from models.registry import ModelSpec  # noqa: E402

MODELS = {
    'ResNet-18': (ModelSpec(model='resnet', depth=18, n_classes=400),
                  ['--model', 'resnet', '--model_depth', '18']),
    'R(2+1)D-18': (ModelSpec(model='resnet2p1d', depth=18, n_classes=700, adaptive_pool=True),
                   ['--recipe', '2020', '--model', 'resnet2p1d', '--model_depth', '18',
                    '--n_classes', '700']),
}


def run(main, argv):
    try:
        main(argv)
    except SystemExit as e:
        if e.code:
            raise RuntimeError(f'{main.__module__} exited with {e.code}') from None


def timed_inference(videos, model_file, output, flags):
    start = time.perf_counter()
    run(inference.main, [videos, '--output', output, '--resume_path', model_file, '--no_cuda',
                         '--n_threads', '1', '--batch_size', '8', '--overwrite', *flags])
    seconds = time.perf_counter() - start
    results = json.load(open(os.path.join(output, 'results.json')))
    n_clips = sum(len(clips) for clips in results['clips'].values())
    return n_clips / seconds, results


def largest_difference(a, b):
    worst = 0.0
    for video in a['results']:
        for key in ('results', 'clips'):
            for row_a, row_b in zip(a[key][video], b[key][video]):
                if row_a['label'] != row_b['label']:
                    return float('inf')
                worst = max(worst, abs(row_a['score'] - row_b['score']))
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--videos', type=int, default=4)
    parser.add_argument('--seconds', type=int, default=10)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        videos = os.path.join(root, 'videos')
        os.makedirs(videos)
        size, rate = SIZES['240p']
        for k in range(args.videos):
            make_video(os.path.join(videos, f'v{k}.mp4'), size, rate, args.seconds)
        print(f'{args.videos} videos of {args.seconds} s at 240p; {torch.get_num_threads()} '
              'threads for the model')
        for name, (spec, flags) in MODELS.items():
            torch.manual_seed(0)
            checkpoint = os.path.join(root, f'{name}.pth')
            torch.save({'arch': spec.arch, 'state_dict': build_model(spec).state_dict()},
                       checkpoint)
            onnx_file = os.path.join(root, f'{name}.onnx')
            start = time.perf_counter()
            run(export.main, [checkpoint, onnx_file, *flags])
            print(f'{name}: export {time.perf_counter() - start:.1f} s')
            rates = {'pytorch': [], 'onnxruntime': []}
            results = {}
            for r in range(args.rounds):
                order = ('pytorch', 'onnxruntime') if r % 2 == 0 else ('onnxruntime', 'pytorch')
                for way in order:
                    model_file = checkpoint if way == 'pytorch' else onnx_file
                    rate, results[way] = timed_inference(
                        videos, model_file, os.path.join(root, f'{name}-{way}'),
                        flags if way == 'pytorch' else [])
                    rates[way].append(rate)
            torch_rate = statistics.median(rates['pytorch'])
            ort_rate = statistics.median(rates['onnxruntime'])
            print(f'{name}: pytorch {torch_rate:.1f} clips/s, onnxruntime {ort_rate:.1f} '
                  f'clips/s (x{ort_rate / torch_rate:.2f}); largest score difference '
                  f'{largest_difference(results["pytorch"], results["onnxruntime"]):.1e}')


if __name__ == '__main__':
    main()
