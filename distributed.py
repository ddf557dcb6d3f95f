"""How a model and its data are spread over devices and processes.

One process: DataParallel over all visible GPUs (the reference's way, whose saved names
carry `module.`). --distributed under torchrun: one process per GPU (or CPU process), the
model in DistributedDataParallel, training batches split by a DistributedSampler, and
validation and test clips split into strided shards without padding, so that every clip
counts exactly once; the results are summed (validation) or gathered (test) on rank 0, which
alone writes files.
"""
import os
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from utils import UserError


def join_process_group(use_cuda):
    """(rank, world size, local rank) after joining torchrun's process group: NCCL on GPUs,
    gloo on CPUs."""
    local_rank = int(os.environ.get('LOCAL_RANK', 0))
    if dist.is_initialized():  # (joined early to agree on --resume_path auto)
        return dist.get_rank(), dist.get_world_size(), local_rank
    if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        raise UserError('--distributed runs under torchrun, e.g. "torchrun --nproc_per_node 2 '
                        'main.py --distributed ..." (RANK and WORLD_SIZE are not set)')
    if use_cuda:
        torch.cuda.set_device(local_rank)
    warn_of_a_shared_store()
    dist.init_process_group('nccl' if use_cuda else 'gloo', init_method='env://')
    return dist.get_rank(), dist.get_world_size(), local_rank


def warn_of_a_shared_store():
    """Across nodes, with restarts, torchrun by default lends its workers its rendezvous
    store and tells the attempts apart by each node's own restart count, which the nodes do
    not share: after a restart, workers can read the previous attempt's addresses and fail to
    connect, attempt after attempt. TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 (for torchrun) gives
    each attempt a store of its own. Said once, by the first process."""
    env = os.environ
    if (env.get('TORCHELASTIC_USE_AGENT_STORE') == 'True' and env.get('RANK') == '0'
            and int(env.get('GROUP_WORLD_SIZE', 1)) > 1
            and int(env.get('TORCHELASTIC_MAX_RESTARTS', 0)) > 0):
        print('warning: torchrun shares its rendezvous store with the workers, so a restart '
              'across nodes may connect to the previous attempt\'s addresses and fail; start '
              'torchrun with TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 in its environment '
              '(docs/cluster.md)', file=sys.stderr)


def agreed(decide, use_cuda):
    """What `decide()` returns on rank 0, on every rank of torchrun's process group
    (joined here if it is not yet)."""
    rank, _, _ = join_process_group(use_cuda)
    decision = [decide() if rank == 0 else None]
    dist.broadcast_object_list(decision, src=0)
    return decision[0]


def leave_process_group():
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model, runtime, sync_bn=False):
    """The bare model on the runtime's device, wrapped for it: DistributedDataParallel under
    --distributed, DataParallel over all visible GPUs otherwise, as it is on the CPU."""
    model = model.to(runtime.device)
    if runtime.channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    if runtime.distributed:
        if sync_bn:
            if not runtime.uses_cuda:
                raise UserError('--sync_bn needs CUDA (SyncBatchNorm has no CPU '
                                'implementation)')
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[runtime.local_rank]
                                       if runtime.uses_cuda else None)
    if runtime.uses_cuda:
        return nn.DataParallel(model)
    return model


def evaluation_model(model):
    """The model validation and test run: each rank evaluates its own shard, so the bare
    module inside DistributedDataParallel (DataParallel stays, it splits batches)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


class ShardSampler(torch.utils.data.Sampler):
    """Indices rank, rank + world, ...: each clip on exactly one rank, no padding."""

    def __init__(self, n, rank, world_size):
        self.indices = range(rank, n, world_size)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


def all_reduce_sum(values, runtime):
    """Sum a list of numbers over ranks (the list itself when not distributed)."""
    if not runtime.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64,
                          device=runtime.device if runtime.uses_cuda else 'cpu')
    dist.all_reduce(tensor)
    return tensor.tolist()


def gather_to_main(obj, runtime):
    """The objects of all ranks, as a list on rank 0 (None elsewhere)."""
    if not runtime.distributed:
        return [obj]
    gathered = [None] * runtime.world_size if runtime.is_main else None
    dist.gather_object(obj, gathered, dst=0)
    return gathered


def check_replicas(model, n_batches, epoch, runtime):
    """After an epoch, confirm every rank holds the same weights; rank 0 says so."""
    if not runtime.distributed:
        return
    with torch.no_grad():
        checksum = sum(p.double().sum().item() for p in model.parameters())
    everyone = [None] * runtime.world_size
    dist.all_gather_object(everyone, (n_batches, checksum))
    if len({c for _, c in everyone}) != 1:
        raise RuntimeError(f'epoch {epoch}: the ranks hold different weights: {everyone}')
    if runtime.is_main:
        print(f'epoch {epoch}: {runtime.world_size} ranks trained '
              f'{", ".join(str(n) for n, _ in everyone)} batches and hold identical weights')
