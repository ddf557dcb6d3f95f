"""Reading and writing checkpoint files: safe loading, key translation, atomic saving.

Accepted on load (SPEC section 8): legacy and zip serialisation, keys with or without the
DataParallel prefix `module.`, the published DenseNet names (`norm.1` ...), state dicts
without `num_batches_tracked`, tensors saved on a GPU when running on the CPU.
"""
import os
import pickle
import re
import tempfile

import torch

from utils import UserError

_DENSE_DOTTED = re.compile(r'\.(norm|relu|conv)\.(\d)\.')
TRUST_HINT = ('if you trust its origin, convert it once with '
              '"python utils_scripts/trust_checkpoint.py {path}" and use the file it writes')


def load_checkpoint(path):
    """Load a checkpoint dict on the CPU without executing code from the file.

    A bare state dict is accepted and returned as {'state_dict': ...}.
    """
    if not os.path.isfile(path):
        raise UserError(f'checkpoint not found: {path}')
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        if 'weights_only' in str(e) or 'Unsupported' in str(e):
            raise UserError(f'refused to load {path}: it needs arbitrary code to unpickle, '
                            f'which could run anything; ' + TRUST_HINT.format(path=path)) from None
        raise UserError(f'{path} is not a PyTorch checkpoint ({one_line_reason(e)})') from None
    except Exception as e:  # the unpickler fails on damaged input in many ways
        raise UserError(f'{path} is not a readable PyTorch checkpoint ({one_line_reason(e)}); '
                        'it may be truncated or another kind of file') from None
    if isinstance(checkpoint, dict) and 'state_dict' not in checkpoint and checkpoint and all(
            isinstance(v, torch.Tensor) for v in checkpoint.values()):
        checkpoint = {'state_dict': checkpoint}
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get('state_dict'), dict):
        raise UserError(f'{path} is not a model checkpoint: it has no state_dict')
    return checkpoint


def one_line_reason(exc):
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def normalise_keys(state_dict):
    """Drop the DataParallel prefix and translate published DenseNet names."""
    out = {}
    for key, value in state_dict.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
        out[_DENSE_DOTTED.sub(r'.\1\2.', key)] = value
    return out


def unwrap(model):
    """The bare model inside DataParallel / DistributedDataParallel."""
    return model.module if hasattr(model, 'module') else model


def load_weights(model, state_dict, path, classifier='fc'):
    """Load `state_dict` into `model` after checking that it fits, naming what does not."""
    model = unwrap(model)
    state_dict = normalise_keys(state_dict)
    expected = {k: v for k, v in model.state_dict().items()
                if not k.endswith('num_batches_tracked')}
    given = {k for k in state_dict if not k.endswith('num_batches_tracked')}
    missing = sorted(set(expected) - given)
    unexpected = sorted(given - set(expected))
    if missing or unexpected:
        raise UserError(f'{path} does not fit this model (missing {len(missing)} keys, e.g. '
                        f'{missing[:2]}; unexpected {len(unexpected)}, e.g. {unexpected[:2]}): '
                        'check --model, --model_depth and the family options')
    head = f'{classifier}.weight'
    if state_dict[head].shape[0] != expected[head].shape[0]:
        raise ClassCountError(path, state_dict[head].shape[0], expected[head].shape[0])
    for key, value in expected.items():
        if tuple(state_dict[key].shape) != tuple(value.shape):
            raise UserError(f'{path}: {key} has shape {tuple(state_dict[key].shape)} but this '
                            f'model expects {tuple(value.shape)}: check --model, --model_depth, '
                            '--resnet_shortcut, --wide_resnet_k and --resnext_cardinality')
    model.load_state_dict(state_dict, strict=False)


class ClassCountError(UserError):
    def __init__(self, path, saved, built):
        super().__init__(f'{path} has {saved} classes but the model is built with {built}')
        self.saved, self.built = saved, built


def save_checkpoint(state, path):
    """Write `state` to `path` atomically: a temporary file in the same folder, flushed to
    disk, then renamed, so that a crash at any instant leaves either the old file or the new
    one, never a damaged one."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp',
                               dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise UserError(f'could not write checkpoint {path}: {e.strerror or e}; '
                            'the earlier checkpoints are intact') from None
        raise
