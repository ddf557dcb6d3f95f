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
from distributed import check_replicas, evaluation_model, gather_to_main
from engine import LossNotFinite
from models.checkpoint import save_checkpoint, training_state, unwrap
from random_state import random_states
from resume_auto import STATE_FILES
from train import EpochStart, SkippedSteps, train_epoch
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
    every_steps: int = 0  # --checkpoint_every_steps: latest.pth every this many batches
    start: EpochStart | None = None  # where the first epoch's training resumes (mid-epoch)
    # The loader that epoch resumes with, where it differs from `loader`: the number of
    # loader processes the stopped run had (each process draws its own random numbers).
    start_loader: DataLoader | None = None
    batches_done: int = 0  # of the training pass running
    own_position: dict | None = None  # this process's, after the pass's last batch
    # Every process's (on rank 0), gathered for a checkpoint of that moment: at latest.pth's
    # steps, and when the processes stop together (a stop request, too much damage).
    position: dict | None = None


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
    resumes at the next batch of the interrupted epoch (a batch cut short does not count):
    the loader's position, the weights and random states of the last complete batch."""
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
        if training is not None and (requested or isinstance(e, TooMuchDamage) or
                                     not runtime.distributed):
            # (every process is here, at the same batch: they agreed to stop)
            training.position = gathered(training.own_position, runtime)
        path = os.path.join(opt.result_path, 'interrupted.pth')
        state = state_of(training, epoch, opt, model) if training is not None else None
        if state is not None and runtime.is_main:
            with STOP.deferred():  # a second Ctrl-C does not cut this save short
                save_checkpoint(state, path)
        resume_line = (f'wrote {path}; continue with --resume_path {path} (or auto)'
                       if state is not None else 'continue with --resume_path auto (the last '
                       'checkpoint: the ranks\' positions in this epoch are not known)')
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
    start = training.start if training else None
    loader = training and (start and training.start_loader or training.loader)
    if training:
        training.start = None
    # Each rank its own draws, the same whether resumed or not (mid-epoch: as they were).
    if runtime.distributed and start is None:
        seed_everything(opt.manual_seed + 1000 * epoch + runtime.rank)
    if runtime.distributed and training:
        training.sampler.set_epoch(epoch)
    if training and training.trained < epoch:  # (a run stopped in validation resumes there)
        _, n_batches = train_epoch(epoch, loader, model, criterion, training.optimizer,
                                   runtime, logs.train, logs.train_batch, training.scaler,
                                   training.skipped, logs.damage, training.min_clips, start,
                                   after_batch(training, loader, epoch, opt, model, runtime))
        check_replicas(evaluation_model(model), n_batches, epoch, runtime)
        training.trained, training.rng_after_training = epoch, random_states()
        training.position = training.own_position = None
        training.batches_done = 0
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
        # An interrupted.pth this run resumed from, a latest.pth of this epoch, hold earlier
        # states now: left, they would look like the newest.
        for name in STATE_FILES:
            earlier = os.path.join(opt.result_path, name)
            if os.path.exists(earlier):
                os.remove(earlier)
                print(f'removed {earlier}: {path} holds a later state')
        return path
    return None


def after_batch(training, loader, epoch, opt, model, runtime):
    """What train_epoch calls after each batch: keep the pass's position where a
    checkpoint could need it, and write latest.pth every --checkpoint_every_steps
    batches."""
    def done(start, stopping):
        training.batches_done = start.batches
        training.own_position = {
            'progress': [epoch, 0, start.batches], 'workers': loader.num_workers,
            'meters': [start.loss_sum, start.correct_sum, start.count],
            'loader': loader.state_dict(), 'rng': random_states()}
        if training.every_steps and start.batches % training.every_steps == 0 and \
                start.batches < len(loader) and not stopping:
            training.position = gathered(training.own_position, runtime)
            if runtime.is_main:
                path = os.path.join(opt.result_path, 'latest.pth')
                save_checkpoint(state_of(training, epoch, opt, model), path)
    return done


def gathered(own, runtime):
    """Every process's position (`own` on each: a collective call), on rank 0: the
    progress and meters (the same on all) and each one's loader and random states; None on
    the others, and where there is none yet."""
    ranks = gather_to_main(own and {'loader': own['loader'], 'rng': own['rng']}, runtime)
    if ranks is None or own is None:
        return None
    return dict(progress=own['progress'], workers=own['workers'], meters=own['meters'],
                ranks=ranks)


def state_of(training, next_epoch, opt, model):
    """The checkpoint of a run that continues at `next_epoch`, in its recipe's layout (the
    2020 release's: the epoch done, the state dict without `module.`, which its own code
    loads), with what exact resuming needs beside it."""
    # Stopped during validation: resume with the random states validation started with;
    # during training, at the position of the last complete batch (None where it is not
    # known: a failure of one of several processes, whose positions were not gathered).
    rng, position, progress = None, None, [next_epoch, 0, 0]
    if training.trained == next_epoch:
        rng, progress = training.rng_after_training, [next_epoch, 1, 0]
    elif training.batches_done and training.trained == next_epoch - 1:
        position = training.position
        if position is None or position['progress'] != [next_epoch, 0, training.batches_done]:
            return None
        rng, progress = position['ranks'][0]['rng'], position['progress']
    done = training.saves_epoch_done
    state = training_state(next_epoch, opt.arch, unwrap(model) if done else model,
                           training.optimizer, training.scheduler, training.scaler,
                           training.trained, rng, training.settings,
                           saved_epoch=next_epoch - 1 if done else None)
    state['progress'] = progress
    if position is not None:
        state.update(loader=[r['loader'] for r in position['ranks']],
                     rngs=[r['rng'] for r in position['ranks']], meters=position['meters'],
                     loader_workers=position['workers'])
    return state


def stopped_by_request(error):
    """True for the Interrupted a stop request raises between batches, and for the
    RuntimeError of a loader whose workers a SIGTERM to the whole process group ended: after
    a stop request that is the same stop."""
    return isinstance(error, Interrupted) or STOP.requested


def mid_epoch_start(checkpoint, path, loader, begin_epoch, runtime, loader_with):
    """A checkpoint written part-way through epoch `begin_epoch`'s training: (the
    EpochStart to continue from (this rank's random states then), the loader to continue
    with, its position (this rank's) restored: `loader`, or `loader_with(n)` of the n loader
    processes the checkpoint's run had); (None, None) for any other checkpoint (said where
    it cannot be resumed mid-way: another number of processes)."""
    progress = checkpoint.get('progress')
    if not (progress and progress[0] == begin_epoch and progress[2] and
            checkpoint.get('loader')):
        return None, None
    if len(checkpoint['loader']) != runtime.world_size:
        if runtime.is_main:
            print(f'note: {path} was written part-way through epoch {begin_epoch} by '
                  f'{len(checkpoint["loader"])} processes, this run has {runtime.world_size}: '
                  'the epoch is trained again from its start (from the weights it reached)',
                  file=sys.stderr)
        return None, None
    workers = checkpoint.get('loader_workers', loader.num_workers)
    if workers != loader.num_workers:
        if runtime.is_main:
            print(f'note: epoch {begin_epoch} ends with the {workers} loader processes it '
                  f'began with (their random draws are the clips\'); --n_threads '
                  f'{loader.num_workers} from the next', file=sys.stderr)
        loader = loader_with(workers)
    loader.load_state_dict(checkpoint['loader'][runtime.rank])
    return EpochStart(progress[2], *checkpoint['meters'],
                      rng=checkpoint['rngs'][runtime.rank]), loader


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
