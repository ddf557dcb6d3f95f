"""Training steps of ResNet-10 (parameter-free shortcuts) at 64x64x16, batch 12 (the demo's
model and clips), on the CPU in float32 and under bfloat16 autocast: on a CPU without
bfloat16 instructions PyTorch emulates them, which is why --amp trains in float32 there.

    python bench/cpu_bfloat16.py [--rounds 2]
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from models.factory import build_model  # noqa: E402
from models.registry import ModelSpec  # noqa: E402
from runtime import cpu_has_bfloat16  # noqa: E402


def step_seconds(model, clips, targets, bfloat16):
    start = time.perf_counter()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bfloat16):
        loss = torch.nn.functional.cross_entropy(model(clips).float(), targets)
    loss.backward()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--rounds', type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = build_model(ModelSpec(depth=10, n_classes=6, sample_size=64, shortcut='A'))
    clips, targets = torch.randn(12, 3, 16, 64, 64), torch.randint(0, 6, (12,))
    step_seconds(model, clips, targets, False)  # warm-up
    times = {False: [], True: []}
    for _ in range(args.rounds):  # interleaved
        for bfloat16 in (False, True):
            times[bfloat16].append(step_seconds(model, clips, targets, bfloat16))
    f32, bf16 = statistics.median(times[False]), statistics.median(times[True])
    print(f'CPU bfloat16 instructions: {cpu_has_bfloat16()}; {torch.get_num_threads()} threads')
    print(f'float32 step {f32:.2f} s, bfloat16 autocast step {bf16:.2f} s: '
          f'bfloat16 takes {bf16 / f32:.1f}x as long (medians of {args.rounds} rounds)')


if __name__ == '__main__':
    main()
