"""Process-group plumbing for --distributed runs under torchrun (one process per GPU).

Training batches are split by a DistributedSampler; validation and test clips are split
into strided shards without padding, so every clip counts exactly once, and the results
are summed (validation) or gathered (test) on rank 0, which alone writes files.
"""
import os

import torch
import torch.distributed as dist

from utils import UserError


class Context:
    """Where this process stands: rank, world size and device."""

    def __init__(self, rank=0, world_size=1, local_rank=0, device=torch.device('cpu')):
        self.rank, self.world_size, self.local_rank, self.device = (rank, world_size,
                                                                   local_rank, device)

    @property
    def enabled(self):
        return self.world_size > 1 or dist.is_initialized()

    @property
    def is_main(self):
        return self.rank == 0


def init(opt):
    """Join the process group that torchrun describes in the environment."""
    if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        raise UserError('--distributed runs under torchrun, e.g. "torchrun --nproc_per_node 2 '
                        'main.py --distributed ..." (RANK and WORLD_SIZE are not set)')
    local_rank = int(os.environ.get('LOCAL_RANK', 0))
    use_cuda = not opt.no_cuda and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    opt.no_cuda = not use_cuda
    dist.init_process_group('nccl' if use_cuda else 'gloo', init_method='env://')
    device = torch.device('cuda', local_rank) if use_cuda else torch.device('cpu')
    return Context(dist.get_rank(), dist.get_world_size(), local_rank, device)


def shutdown():
    if dist.is_initialized():
        dist.destroy_process_group()


class ShardSampler(torch.utils.data.Sampler):
    """Indices rank, rank + world, ...: each clip on exactly one rank, no padding."""

    def __init__(self, n, rank, world_size):
        self.indices = range(rank, n, world_size)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


def all_reduce_sum(values, ctx):
    """Sum a list of numbers over ranks (in place of nothing when not distributed)."""
    if not ctx.enabled:
        return values
    backend_device = ctx.device if ctx.device.type == 'cuda' else torch.device('cpu')
    tensor = torch.tensor(values, dtype=torch.float64, device=backend_device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def gather_to_main(obj, ctx):
    """The objects of all ranks, as a list on rank 0 (None elsewhere)."""
    if not ctx.enabled:
        return [obj]
    gathered = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, gathered, dst=0)
    return gathered


def check_replicas(model, n_batches, epoch, ctx):
    """After an epoch, confirm every rank holds the same weights; rank 0 says so."""
    if not ctx.enabled:
        return
    with torch.no_grad():
        checksum = sum(p.double().sum().item() for p in model.parameters())
    everyone = [None] * ctx.world_size
    dist.all_gather_object(everyone, (n_batches, checksum))
    if len({c for _, c in everyone}) != 1:
        raise RuntimeError(f'epoch {epoch}: the ranks hold different weights: {everyone}')
    if ctx.is_main:
        print(f'epoch {epoch}: {ctx.world_size} ranks trained '
              f'{", ".join(str(n) for n, _ in everyone)} batches and hold identical weights')
