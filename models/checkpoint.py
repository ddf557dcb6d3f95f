"""Checkpoint files: what they hold, safe loading, key translation, atomic saving, and how
a run is restored from one (docs/checkpoints-and-logs.md).

Accepted on load: legacy and zip serialisation, keys with or without the DataParallel prefix
`module.`, the published DenseNet names (`norm.1` ...), state dicts without
`num_batches_tracked`, tensors saved on a GPU when running on the CPU.
"""
import collections
import os
import pickle
import re

import torch

from random_state import random_states, set_random_states
from utils import UserError, one_line, write_atomically

_DENSE_DOTTED = re.compile(r'\.(norm|relu|conv)\.(\d)\.')
TRUST_HINT = ('if you trust its origin, convert it once with '
              '"python utils_scripts/trust_checkpoint.py {path}" and use the file it writes')


def load_checkpoint(path):
    """Load a checkpoint dict on the CPU without executing code from the file.

    A bare state dict is accepted and returned as {'state_dict': ...}. Which release's
    pipeline its model expects is the recipes' question (recipes.checkpoint_recipe).
    """
    if os.path.isdir(path):
        raise UserError(f'{path} is a folder: give the checkpoint file in it (e.g. save_N.pth)')
    if not os.path.isfile(path):
        raise UserError(f'checkpoint not found: {path}')
    try:
        # The 2020 release's checkpoints hold MultiStepLR's milestones as a Counter: the one
        # class beyond plain data that weights-only loading is given.
        with torch.serialization.safe_globals([collections.Counter]):
            checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        if 'Unsupported operand' in str(e):  # bytes that are no pickle at all
            raise UserError(f'{path} is not a PyTorch checkpoint (a JSON, video or other file?): '
                            'give a .pth file written by torch.save') from None
        if 'weights_only' in str(e) or 'Unsupported' in str(e):
            raise UserError(f'refused to load {path}: it needs arbitrary code to unpickle, '
                            f'which could run anything; ' + TRUST_HINT.format(path=path)) from None
        raise UserError(f'{path} is not a PyTorch checkpoint ({one_line(e, 200)})') from None
    except Exception as e:  # the unpickler fails on damaged input in many ways
        raise UserError(f'{path} is not a readable PyTorch checkpoint ({one_line(e, 200)}); '
                        'it may be truncated or another kind of file') from None
    if isinstance(checkpoint, dict) and 'state_dict' not in checkpoint and checkpoint and all(
            isinstance(v, torch.Tensor) for v in checkpoint.values()):
        checkpoint = {'state_dict': checkpoint}
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get('state_dict'), dict):
        raise UserError(f'{path} is not a model checkpoint: it has no state_dict')
    check_fields(checkpoint, path)
    return checkpoint


def written_here(checkpoint):
    """Whether this program wrote the checkpoint (it adds what exact resuming needs)."""
    return 'trained' in checkpoint or 'rng' in checkpoint or 'settings' in checkpoint


# What a checkpoint's fields may hold (a damaged or foreign file fails here, in one line,
# not deep in a resumed run).
FIELD_TYPES = {'epoch': int, 'trained': int, 'arch': str, 'optimizer': dict, 'scheduler': dict,
               'scaler': dict, 'rng': dict, 'settings': dict, 'progress': list, 'loader': list,
               'rngs': list, 'meters': list, 'loader_workers': int}
MAX_EPOCH = 1_000_000


def check_fields(checkpoint, path):
    for key, value in checkpoint['state_dict'].items():
        if not isinstance(value, torch.Tensor):
            raise UserError(f'{path}: state_dict entry {key!r} is a {type(value).__name__}, '
                            'not a tensor: the file is damaged or not a model checkpoint')
    for key, kind in FIELD_TYPES.items():
        value = checkpoint.get(key)
        if value is not None and not isinstance(value, kind) or kind is int and \
                isinstance(value, bool):
            raise UserError(f'{path}: its {key!r} is a {type(value).__name__}, not a '
                            f'{kind.__name__}: the file is damaged or not a checkpoint of this '
                            'program')
    # (0: a --recipe 2020 run stopped in its first epoch; that layout saves the epoch done)
    if checkpoint.get('epoch') is not None and not 0 <= checkpoint['epoch'] <= MAX_EPOCH:
        raise UserError(f'{path}: its epoch {checkpoint["epoch"]} is out of range (0 to '
                        f'{MAX_EPOCH}): the file is damaged')


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
        shortcut = any('downsample' in key for key in missing + unexpected)
        raise UserError(f'{path} does not fit this model (missing {len(missing)} keys, e.g. '
                        f'{missing[:2]}; unexpected {len(unexpected)}, e.g. {unexpected[:2]}): '
                        + ('set --resnet_shortcut to the one it was trained with (A has no '
                           'downsample weights, B has)' if shortcut else
                           'check --model, --model_depth and the family options'))
    head = f'{classifier}.weight'
    if state_dict[head].shape[0] != expected[head].shape[0]:
        raise ClassCountError(path, state_dict[head].shape[0], expected[head].shape[0])
    for key, value in expected.items():
        if tuple(state_dict[key].shape) != tuple(value.shape):
            raise UserError(f'{path}: {key} has shape {tuple(state_dict[key].shape)} but this '
                            f'model expects {tuple(value.shape)}: check --model, --model_depth, '
                            '--resnet_shortcut, --wide_resnet_k and --resnext_cardinality')
    for key in expected:
        if state_dict[key].is_floating_point() and not torch.isfinite(state_dict[key]).all():
            raise UserError(f'{path}: {key} holds NaN or infinite values: it was saved from a '
                            'diverged run and cannot be used; take an earlier checkpoint')
    model.load_state_dict(state_dict, strict=False)


class ClassCountError(UserError):
    def __init__(self, path, saved, built):
        super().__init__(f'{path} has {saved} classes but the model is built with {built}')
        self.saved, self.built = saved, built


def head_name(model):
    """The name of the model's classifier: `classifier` (DenseNet) or `fc`."""
    return 'classifier' if hasattr(unwrap(model), 'classifier') else 'fc'


def load_model_file(model, path, arch, class_count_advice, checkpoint=None):
    """Load the checkpoint at `path` (or `checkpoint`, loaded from it already) into `model`
    after checking it was saved from the same architecture; returns the checkpoint.
    `class_count_advice(saved)` says which flag to set when only the number of classes
    differs."""
    checkpoint = checkpoint or load_checkpoint(path)
    if checkpoint.get('arch', arch) != arch:
        raise UserError(f'{path} holds a {checkpoint["arch"]} model but this run builds '
                        f'{arch}: set --model and --model_depth to match it')
    try:
        load_weights(model, checkpoint['state_dict'], path, head_name(model))
    except ClassCountError as e:
        raise UserError(f'{e}: {class_count_advice(e.saved)}') from None
    return checkpoint


def resume(model, path, arch, class_count_advice, checkpoint=None):
    """Load the checkpoint at `path` (or `checkpoint`, loaded from it already) into the
    model; returns the checkpoint. `class_count_advice(saved)`: what to say when only the
    classes differ."""
    return load_model_file(model, path, arch, class_count_advice, checkpoint)


# -- what a checkpoint records of its run -----------------------------------------------------

def recorded_settings(options, n_classes, class_names, recipe):
    """What a checkpoint records of its run: `options` ({name: value} of the options that
    make its model and clips), its classes and their names, its recipe by name."""
    return dict(options, n_classes=n_classes, class_names=[str(name) for name in class_names],
                recipe=recipe)


def setting_differences(checkpoint, options):
    """[(option, recorded value, this run's value)] for the `options` ({name: value}) whose
    recorded value differs (none for a checkpoint that records nothing, as the published
    ones)."""
    recorded = checkpoint.get('settings') or {}
    return [(name, recorded[name], value) for name, value in options.items()
            if name in recorded and recorded[name] != value]


def as_flag(name, value):
    if isinstance(value, bool):
        return f'--{name}' if value else f'no --{name}'
    return f'--{name} {value}'


def differences_line(path, differences):
    """'PATH was trained with --sample_size 112, this run uses --sample_size 64'."""
    return (f'{path} was trained with {", ".join(as_flag(n, r) for n, r, _ in differences)}; '
            f'this run uses {", ".join(as_flag(n, g) for n, _, g in differences)}')


# -- the training state ------------------------------------------------------------------

def training_state(next_epoch, arch, model, optimizer, scheduler, scaler=None, trained=None,
                   rng=None, settings=None, saved_epoch=None):
    """What save_N.pth holds: the reference's keys (epoch, arch, state_dict, optimizer)
    plus what resuming exactly needs; `trained`: the last epoch whose training pass is
    complete (next_epoch when a run stopped during that epoch's validation); `rng`: the
    random states to resume with (default: the current ones); `settings`: what the run's
    model and clips were (recorded_settings); `saved_epoch`: the 'epoch' field where it is
    not next_epoch (the 2020 release saves the epoch done)."""
    return {
        'epoch': next_epoch if saved_epoch is None else saved_epoch,
        'trained': next_epoch - 1 if trained is None else trained,
        'arch': arch,
        'state_dict': model.state_dict(),
        'optimizer': optimizer.state_dict(),
        'scheduler': scheduler.state_dict(),
        'scaler': scaler.state_dict() if scaler is not None else {},
        'rng': rng or random_states(),
        'settings': settings or {},
    }


def restore_training_state(checkpoint, path, optimizer, scheduler, scaler, restore_rng=True,
                           fine_tuning_flag='--ft_begin_index'):
    """Optimizer, scheduler, gradient scaler and (with `restore_rng`) random states, so that
    training continues exactly as if it had not stopped. `fine_tuning_flag`: the option
    that chose the trained parameters (the optimizer's groups), named when they differ."""
    if checkpoint.get('optimizer'):
        try:
            optimizer.load_state_dict(checkpoint['optimizer'])
        except (ValueError, KeyError, RuntimeError) as e:
            raise UserError(f'{path}: its optimizer state does not fit this run '
                            f'({one_line(e, 200)}); use the same --pretrain_path, '
                            f'{fine_tuning_flag} and model options as the run that wrote '
                            'it') from None
    if checkpoint.get('scheduler') and same_scheduler_kind(checkpoint['scheduler'], scheduler):
        scheduler.load_state_dict(checkpoint['scheduler'])
    if scaler is not None and checkpoint.get('scaler'):
        scaler.load_state_dict(checkpoint['scaler'])
    if restore_rng and checkpoint.get('rng'):
        set_random_states(checkpoint['rng'])


def same_scheduler_kind(saved, scheduler):
    """Whether a saved scheduler state is one of `scheduler`'s kind (a multistep one holds
    its milestones, a plateau one does not): a checkpoint of another recipe may hold the
    other kind, which does not load into this one."""
    return ('milestones' in saved) == ('milestones' in scheduler.state_dict())


def override_hyperparameters(optimizer, values):
    """Set the optimizer's hyperparameters `values` ({'lr': ..., 'momentum': ...}) in every
    parameter group (the learning rate only where it is not 0: frozen groups stay frozen,
    nor where it is the rate a schedule started from: the same command resumed keeps the
    rate its multistep schedule reached); returns {name: (old, new)} for those that change."""
    changed = {}
    for name, value in values.items():
        for group in optimizer.param_groups:
            if name == 'lr' and (group['lr'] == 0 or group.get('initial_lr') == value):
                continue
            if group[name] != value:
                changed.setdefault(name, (group[name], value))
                group[name] = value
    return changed


def save_checkpoint(state, path):
    """Write `state` to `path` atomically: a temporary file in the same folder, flushed to
    disk, then renamed, so that a crash at any instant leaves either the old file or the new
    one, never a damaged one."""
    write_atomically(path, lambda f: torch.save(state, f), 'checkpoint')
