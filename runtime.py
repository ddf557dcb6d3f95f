"""Where and how a run computes: device, process rank, mixed precision and memory format.

Decided once, from the options, by `Runtime.from_options`; the training, validation, test
and inference passes take the result instead of reading the options themselves.
"""
import contextlib
from dataclasses import dataclass

import torch

from distributed import join_process_group


@dataclass(frozen=True)
class Runtime:
    device: torch.device = torch.device('cpu')
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    distributed: bool = False  # one process per device under torchrun (DDP)
    amp_dtype: torch.dtype | None = None  # autocast's dtype with --amp, None without
    channels_last: bool = False

    @classmethod
    def from_options(cls, opt):
        """The runtime the options ask for. Under --distributed this joins the process group
        that torchrun describes; without CUDA (and without --no_cuda) it says once that it
        runs on the CPU."""
        wants_cuda = not opt.no_cuda
        use_cuda = wants_cuda and torch.cuda.is_available()
        if wants_cuda and not use_cuda:
            print('CUDA is not available: running on the CPU (pass --no_cuda to say so)')
        rank, world_size, local_rank = 0, 1, 0
        distributed = opt.distributed
        if distributed:
            rank, world_size, local_rank = join_process_group(use_cuda)
        if not use_cuda:
            device = torch.device('cpu')
        else:  # DataParallel spreads a single process's batches over all visible GPUs
            device = torch.device('cuda', local_rank) if distributed else torch.device('cuda')
        dtype = amp_dtype(device) if opt.amp else None
        if opt.amp and dtype is None and rank == 0:
            print('--amp: this CPU has no bfloat16 instructions (AVX512-BF16, AMX or Arm BF16), '
                  'on which PyTorch\'s bfloat16 kernels run many times slower than float32: '
                  'training in float32')
        return cls(device=device, rank=rank, world_size=world_size, local_rank=local_rank,
                   distributed=distributed, amp_dtype=dtype, channels_last=opt.channels_last)

    @property
    def is_main(self):
        """Rank 0: the process that prints and writes files."""
        return self.rank == 0

    @property
    def uses_cuda(self):
        return self.device.type == 'cuda'

    @property
    def memory_format(self):
        return torch.channels_last_3d if self.channels_last else torch.contiguous_format

    @property
    def precision(self):
        """The name of the arithmetic the model runs in: float32, bfloat16 or float16."""
        return str(self.amp_dtype or torch.float32).replace('torch.', '')

    def autocast(self):
        """The context that runs the forward pass in the run's precision."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def to_device(self, clips):
        """A batch of clips on the device, in the run's memory format."""
        return clips.to(self.device, non_blocking=True,
                        memory_format=torch.channels_last_3d if self.channels_last
                        else torch.preserve_format)


def amp_dtype(device):
    """bfloat16 where the device computes it (recent GPUs, CPUs with bfloat16 instructions),
    float16 on older GPUs, None (float32) on CPUs without bfloat16 instructions, where
    PyTorch emulates it far more slowly than it computes float32 (bench/RESULTS.md)."""
    if device.type == 'cuda':
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_bfloat16() else None


BFLOAT16_CPU_FLAGS = {'avx512_bf16', 'amx_bf16', 'bf16'}  # x86 (two kinds), Arm


def cpu_has_bfloat16(cpuinfo='/proc/cpuinfo'):
    """Whether the CPU's flags list bfloat16 arithmetic; True where they cannot be read
    (not Linux): there --amp is taken at its word."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith(('flags', 'Features')):
                    return bool(BFLOAT16_CPU_FLAGS & set(line.split(':', 1)[1].split()))
    except OSError:
        pass
    return True
