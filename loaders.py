"""DataLoaders as main.py and inference.py run them: workers seeded from the run's seed and
deaf to Ctrl-C, batches that leave damaged clips out, evaluation clips sharded across ranks.
"""
import os
import signal
import sys
import warnings

import numpy as np
import torch
from torch.utils.data import DataLoader

from datasets.videodataset import collate_skipping_damaged
from distributed import ShardSampler


def seed_worker(worker_id):
    """Seed numpy in each loader worker from the seed torch gave that worker, and leave
    SIGINT and SIGTERM (a terminal's Ctrl-C and a scheduler's SIGTERM reach the whole
    process group) to the main process, which stops after the current batch and then shuts
    the workers down. A worker killed by the signal instead would be reported by PyTorch
    at any moment after, even in the middle of saving interrupted.pth. A worker whose main
    process dies exits by itself (PyTorch's watchdog)."""
    np.random.seed(torch.initial_seed() % 2 ** 32)
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
        signal.signal(stop, signal.SIG_IGN)


SAID = set()  # what this process has said once


def workers(n_workers):
    """`n_workers` loader processes (--n_threads), said once in this process where they are
    more than the CPU cores (PyTorch's own warning, twice a loader, is left out)."""
    cores = os.cpu_count() or 1
    if n_workers > cores and 'workers' not in SAID:
        SAID.add('workers')
        warnings.filterwarnings('ignore', message='This DataLoader will create')
        print(f'note: --n_threads {n_workers} loader processes share {cores} CPU cores; '
              f'--n_threads {cores} may load as fast with less memory', file=sys.stderr)
    return n_workers


class VideoBatches(torch.utils.data.Sampler):
    """Batches of all the clips of `videos_per_batch` consecutive videos, as the 2020
    release batches --inference; across ranks, every world_size-th video to each rank.
    `clip_videos`: the video of each clip, in dataset order (clips of a video together)."""

    def __init__(self, clip_videos, videos_per_batch, rank=0, world_size=1):
        clip_videos = np.asarray(clip_videos)
        starts = np.flatnonzero(np.r_[True, clip_videos[1:] != clip_videos[:-1]])
        ends = np.r_[starts[1:], len(clip_videos)]
        mine = list(zip(starts.tolist(), ends.tolist()))[rank::world_size]
        self.batches = [[i for first, end in mine[k:k + videos_per_batch]
                         for i in range(first, end)]
                        for k in range(0, len(mine), videos_per_batch)]

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


class ShuffledClips(torch.utils.data.Sampler):
    """The clips in a new random order each epoch, the order PyTorch's RandomSampler gives
    (a seed drawn from torch's random state when the epoch starts), and a position that a
    checkpoint keeps: the epoch's seed and the clips handed out. (torchdata's own stateful
    RandomSampler draws one seed when the loader is made instead, so that a run resumed at
    an epoch's end would shuffle differently from one that went on.)"""

    def __init__(self, n):
        self.n = n
        self.seed = self.given = None
        self.restored = None  # (seed, given) to continue from

    def __len__(self):
        return self.n

    def __iter__(self):
        if self.restored is not None:
            (self.seed, self.given), self.restored = self.restored, None
        else:
            self.seed, self.given = int(torch.empty((), dtype=torch.int64).random_().item()), 0
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed))
        for index in order.tolist()[self.given:]:
            self.given += 1
            yield index

    def state_dict(self):
        return {'seed': self.seed, 'given': self.given}

    def load_state_dict(self, state):
        self.restored = (state['seed'], state['given']) if state['seed'] is not None else None


def make_loader(dataset, batch_size, n_workers, runtime, shuffle=False, sampler=None,
                collate_fn=collate_skipping_damaged, batch_sampler=None, drop_single=False,
                stateful=False):
    """Batches of `dataset`. Without a sampler, validation and test clips are split across
    ranks, each clip exactly once. `batch_sampler`: the batches, given (VideoBatches);
    `drop_single`: a last training batch of a single clip is left out (a network that
    cannot train on one clip); `stateful`: torchdata's StatefulDataLoader, whose position
    (the sampler's order, the batches given, the workers' random states) a checkpoint keeps
    so that a run resumes at the next unseen batch."""
    n_workers = workers(n_workers)
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=n_workers,
                          pin_memory=runtime.uses_cuda, worker_init_fn=seed_worker,
                          collate_fn=collate_fn)
    if sampler is None and not shuffle and runtime.distributed:
        sampler = ShardSampler(len(dataset), runtime.rank, runtime.world_size)
    n = len(sampler) if sampler is not None else len(dataset)
    drop_last = drop_single and shuffle and n % batch_size == 1
    kind = DataLoader
    if stateful:
        from torchdata.stateful_dataloader import StatefulDataLoader as kind
        if shuffle and sampler is None:
            sampler = ShuffledClips(len(dataset))
        # (it calls a deprecated PyTorch function at every epoch's start)
        warnings.filterwarnings('ignore', message=".*'set_vital' is deprecated")
    return kind(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None,
                sampler=sampler, num_workers=n_workers, pin_memory=runtime.uses_cuda,
                worker_init_fn=seed_worker, drop_last=drop_last, collate_fn=collate_fn)
