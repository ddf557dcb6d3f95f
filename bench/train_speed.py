"""Training speed of ResNet-18 at 112x112x16: float32, --amp, --channels_last, both.

    python bench/train_speed.py [--batch 4] [--steps 4] [--clips 32]

1. Training steps on a fixed batch (model, loss, backward, SGD step), best of --steps, and
   the loss after 8 more steps on that batch (it must fall under every setting); and the
   cost of train.py's finite-gradient check (the gradients' norm, read each step).
2. End to end: main.py training epochs (JPEG loading in a worker, the training pipeline,
   logging) on --clips generated 320x240 clips; the second epoch is timed.
Prints clips/s of each setting and its ratio to float32, all from the same run.
"""
import argparse
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import main as main_module  # noqa: E402
from distributed import wrap_model  # noqa: E402
from models.factory import create_model  # noqa: E402
from models.registry import ModelSpec  # noqa: E402
from opts import parse_opts  # noqa: E402
from runtime import Runtime  # noqa: E402
from tests.datagen import labelled_layout  # noqa: E402
from train import gradient_norm  # noqa: E402

SETTINGS = {'float32': [], 'amp': ['--amp'], 'channels_last': ['--channels_last'],
            'amp + channels_last': ['--amp', '--channels_last']}


def step_speed(flags, batch, steps, check_gradients=False):
    """Built and prepared as main.py does (create_model, wrap_model, the bfloat16 gradient
    check), trained as train.py does, on one fixed batch."""
    opt = parse_opts(['--model_depth', '18', '--no_cuda', '--batch_size', str(batch), *flags])
    runtime = Runtime.from_options(opt)
    torch.manual_seed(0)
    model, parameters, _ = create_model(ModelSpec.from_options(opt))
    model = wrap_model(model, runtime)
    if runtime.amp_dtype is not None:
        main_module.keep_float32_where_needed(model, opt, runtime)
    x = runtime.to_device(torch.randn(batch, 3, opt.sample_duration, opt.sample_size,
                                      opt.sample_size))
    y = torch.randint(0, opt.n_classes, (batch,))
    optimizer = torch.optim.SGD(parameters, lr=0.01, momentum=0.9)

    def step():
        with runtime.autocast():
            loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        if check_gradients:
            gradient_norm(model, loss).item()
        optimizer.step()
        return loss.item()

    first = step()  # warm-up
    best = float('inf')
    for _ in range(steps):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    for _ in range(8):
        last = step()
    return batch / best, first, last


def epoch_speed(flags, data, clips):
    video_path, annotation_path = data
    return timed_epoch(['--video_path', video_path, '--annotation_path', annotation_path,
                        '--dataset', 'ucf101', '--n_classes', '4', '--model_depth', '18',
                        '--no_cuda', '--batch_size', '4', '--n_threads', '1',
                        '--n_epochs', '2', '--no_val', '--learning_rate', '0.01', *flags], clips)


def timed_epoch(argv, clips):
    """Clips/s of the last training epoch of main.py run with `argv` (and a result folder
    of its own)."""
    durations = []
    original = main_module.train_epoch

    def timed(*args, **kwargs):
        start = time.perf_counter()
        result = original(*args, **kwargs)
        durations.append(time.perf_counter() - start)
        return result

    main_module.train_epoch = timed
    try:
        with tempfile.TemporaryDirectory() as result:
            main_module.main([*argv, '--result_path', result])
    finally:
        main_module.train_epoch = original
    return clips / durations[-1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--steps', type=int, default=4)
    parser.add_argument('--clips', type=int, default=32)
    args = parser.parse_args()
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads')
    print(f'{"setting":22} {"step clips/s":>12} {"ratio":>6} {"loss 1st -> 10th":>18}')
    rates = {}
    for name, flags in SETTINGS.items():
        rate, first, last = step_speed(flags, args.batch, args.steps)
        rates[name] = rate
        print(f'{name:22} {rate:12.2f} {rate / rates["float32"]:6.2f} '
              f'{first:8.3f} -> {last:.3f}', flush=True)
    rate, first, last = step_speed(SETTINGS['amp'], args.batch, args.steps, True)
    print(f'{"amp, gradient check":22} {rate:12.2f} {rate / rates["float32"]:6.2f} '
          f'{first:8.3f} -> {last:.3f}   ({rate / rates["amp"]:.3f} of amp)', flush=True)
    with tempfile.TemporaryDirectory() as root:
        videos = [(f'c{i % 4}', 'training', 20) for i in range(args.clips)]
        data = labelled_layout(root, [f'c{i}' for i in range(4)], videos, size=(320, 240))
        print(f'{"end to end (epoch)":22} {"clips/s":>12} {"ratio":>6}')
        epoch_rates = {}
        for name in ('float32', 'amp'):
            epoch_rates[name] = epoch_speed(SETTINGS[name], data, args.clips)
            print(f'{name:22} {epoch_rates[name]:12.2f} '
                  f'{epoch_rates[name] / epoch_rates["float32"]:6.2f}', flush=True)


if __name__ == '__main__':
    main()
