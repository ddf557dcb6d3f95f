"""The run's epochs: train, validate, step the learning-rate schedule, save checkpoints as
--checkpoint says, and on a stop request or a failure write interrupted.pth and say how to
go on (docs/checkpoints-and-logs.md)."""
import os
import random
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from damage import TooMuchDamage
from distributed import check_replicas, evaluation_model
from engine import LossNotFinite
from models.checkpoint import random_states, save_checkpoint, training_state, unwrap
from train import SkippedSteps, train_epoch
from utils import STOP, Interrupted, RunStopped, UserError, duration, one_line
from validation import val_epoch


@dataclass
class Training:
    """What training needs beyond the model; main.py holds None instead with --no_train."""
    loader: DataLoader
    sampler: DistributedSampler | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau
    scaler: torch.amp.GradScaler | None  # float16 only
    settings: dict  # what checkpoints record of the model and its clips
    saves_epoch_done: bool  # the recipe's checkpoint layout (recipes.base.Recipe)
    min_clips: int  # the fewest clips a batch trains on (2 where one clip cannot train)
    trained: int = 0  # the last epoch whose training pass is complete
    rng_after_training: dict | None = None  # random states as that pass left them
    skipped: SkippedSteps = field(default_factory=SkippedSteps)


def step_scheduler(scheduler, val_loss):
    """After an epoch: a plateau scheduler on the validation loss (none without
    validation), a multistep one every epoch."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if val_loss is not None:
            scheduler.step(val_loss)
    else:
        scheduler.step()



def fit(opt, begin_epoch, model, criterion, training, val_loader, logs, runtime):
    """Epochs begin_epoch ... n_epochs of training and validation. Returns False when a stop
    request ended them. A training run that stops early (a stop request, more damaged clips
    than --max_bad_clips allows, any failure that leaves the weights as the last step made
    them: out of memory, a full disk, a loader worker killed) writes interrupted.pth, which
    resumes at the start of the interrupted epoch (a batch cut short does not count)."""
    last_saved = opt.resume_path or None
    epoch = begin_epoch
    started = time.perf_counter()
    try:
        for epoch in range(begin_epoch, opt.n_epochs + 1):
            last_saved = run_epoch(epoch, opt, model, criterion, training, val_loader, logs,
                                   runtime) or last_saved
            if runtime.is_main:
                say_time_left(epoch, begin_epoch, opt.n_epochs, time.perf_counter() - started)
    except LossNotFinite as e:
        if training is None:  # evaluating a checkpoint
            raise UserError(f'{e}: the model of {opt.resume_path or "this run"} gives non-finite'
                            ' outputs') from None
        raise UserError(f'{e}: try a lower --learning_rate; ' +
                        (f'the last good checkpoint is {last_saved}' if last_saved
                         else 'no checkpoint was written')) from None
    except (Interrupted, TooMuchDamage, RuntimeError, OSError, MemoryError) as e:
        requested = stopped_by_request(e)
        if requested and training is None:
            raise
        path = os.path.join(opt.result_path, 'interrupted.pth')
        if training is not None and runtime.is_main:
            with STOP.deferred():  # a second Ctrl-C does not cut this save short
                save_checkpoint(state_of(training, epoch, opt, model), path)
        resume_line = f'wrote {path}; continue with --resume_path {path}'
        if requested:
            if runtime.is_main:
                print(f'stopped during epoch {epoch}: {resume_line}', file=sys.stderr)
            return False
        if opt.debug:
            raise
        reason = str(e) if isinstance(e, TooMuchDamage) else f'{type(e).__name__}: {one_line(e)}'
        raise RunStopped(f'stopped during epoch {epoch}: {reason}' +
                         (f'; {resume_line}' if training is not None else ''),
                         show=runtime.is_main) from None
    return True


def say_time_left(epoch, begin_epoch, n_epochs, seconds):
    """'epoch 3/200 done; 12 min 5 s an epoch, about 5 h 10 min left' (from this run's
    epochs so far)."""
    per_epoch = seconds / (epoch - begin_epoch + 1)
    left = f', about {duration(per_epoch * (n_epochs - epoch))} left' if epoch < n_epochs \
        else ''
    print(f'epoch {epoch}/{n_epochs} done; {duration(per_epoch)} an epoch{left}', flush=True)


def run_epoch(epoch, opt, model, criterion, training, val_loader, logs, runtime):
    """Train, validate, step the scheduler and save as the options say; returns the path of
    the checkpoint written, if any."""
    if runtime.distributed:  # each rank its own draws, the same whether resumed or not
        seed_everything(opt.manual_seed + 1000 * epoch + runtime.rank)
        if training:
            training.sampler.set_epoch(epoch)
    if training and training.trained < epoch:  # (a run stopped in validation resumes there)
        _, n_batches = train_epoch(epoch, training.loader, model, criterion,
                                   training.optimizer, runtime, logs.train, logs.train_batch,
                                   training.scaler, training.skipped, logs.damage,
                                   training.min_clips)
        check_replicas(evaluation_model(model), n_batches, epoch, runtime)
        training.trained, training.rng_after_training = epoch, random_states()
    val_loss = None
    if val_loader:
        val_loss = val_epoch(epoch, val_loader, evaluation_model(model), criterion, runtime,
                             logs.val, logs.damage)
    if not training:
        return None
    step_scheduler(training.scheduler, val_loss)
    if runtime.is_main and (epoch % opt.checkpoint == 0 or epoch == opt.n_epochs):
        path = os.path.join(opt.result_path, f'save_{epoch}.pth')
        save_checkpoint(state_of(training, epoch + 1, opt, model), path)
        # An interrupted.pth this run resumed from holds an earlier state now: left, it
        # would look like the newest one.
        interrupted = os.path.join(opt.result_path, 'interrupted.pth')
        if os.path.exists(interrupted):
            os.remove(interrupted)
            print(f'removed {interrupted}: {path} holds a later state')
        return path
    return None


def state_of(training, next_epoch, opt, model):
    """The checkpoint of a run that continues at `next_epoch`, in its recipe's layout (the
    2020 release's: the epoch done, the state dict without `module.`, which its own code
    loads), with what exact resuming needs beside it."""
    # Stopped during validation: resume with the random states validation started with.
    rng = training.rng_after_training if training.trained == next_epoch else None
    done = training.saves_epoch_done
    return training_state(next_epoch, opt.arch, unwrap(model) if done else model,
                          training.optimizer, training.scheduler, training.scaler,
                          training.trained, rng, training.settings,
                          saved_epoch=next_epoch - 1 if done else None)


def stopped_by_request(error):
    """True for the Interrupted a stop request raises between batches, and for the
    RuntimeError of a loader whose workers a SIGTERM to the whole process group ended: after
    a stop request that is the same stop."""
    return isinstance(error, Interrupted) or STOP.requested


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
