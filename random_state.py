"""The random states of a process: Python's, numpy's and torch's CPU generator (with
`cuda`, the GPUs' too), in types a weights-only checkpoint load accepts (numpy's key array
as a tensor); taken and restored. Loader workers take theirs without `cuda` (a worker must
not touch CUDA)."""
import random

import numpy as np
import torch


def random_states(cuda=True):
    np_state = np.random.get_state()
    states = {
        'python': random.getstate(),
        'numpy': (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        'torch': torch.get_rng_state(),
    }
    if cuda:
        states['cuda'] = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return states


def set_random_states(states):
    random.setstate((states['python'][0], tuple(states['python'][1]), states['python'][2]))
    name, keys, *rest = states['numpy']
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(states['torch'])
    if states.get('cuda') and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])
