"""Train, validate and test a 3D CNN as the command line says.

    python main.py --root_path ~/data --video_path kinetics_videos/jpg \
        --annotation_path kinetics.json --result_path results --dataset kinetics \
        --model resnet --model_depth 34 --n_classes 400 --batch_size 128 --n_threads 4 \
        --checkpoint 5
"""
import signal
import sys


def stopped_while_starting(signum, frame):
    print('stopped', file=sys.stderr)
    sys.exit(128 + signum)


if __name__ == '__main__':  # Ctrl-C while the modules below load: one line, no traceback
    signal.signal(signal.SIGINT, stopped_while_starting)

import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

import curves
import native
import recipes
import result_folder
from argtypes import MAIN
from damage import TooMuchDamage
from distributed import check_replicas, evaluation_model, leave_process_group, wrap_model
from engine import LossNotFinite
from loaders import make_loader
from models.checkpoint import (load_checkpoint, override_hyperparameters, random_states,
                               recorded_settings, restore_training_state, resume,
                               same_scheduler_kind, save_checkpoint, training_state, unwrap)
from models.factory import check_input_fits, create_model, trains_on_one_clip
from models.precision import keep_float32_where_bfloat16_fails
from opts import for_checkpoint, parse_opts, recorded_options
from runtime import Runtime
from train import OPTIMIZERS, SkippedSteps, train_epoch
from utils import STOP, Interrupted, RunStopped, UserError, duration, one_line
from validation import val_epoch


def main(argv=None):
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    opt = parse_opts(argv)
    try:
        opt, checkpoints = with_checkpoints(opt, argv)
        run(opt, checkpoints)
        if STOP.signum is not None:  # stopped cleanly on a signal: say so, as shells expect
            sys.exit(128 + STOP.signum)
    except UserError as e:
        if opt.debug:
            raise
        print(f'error: {one_line(e)}', file=sys.stderr)
        sys.exit(2)
    except RunStopped as e:
        if opt.debug:
            raise
        if e.show:
            print(f'error: {one_line(e)}', file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:  # a second SIGINT/SIGTERM
        print('stopped at once', file=sys.stderr)
        sys.exit(130)


def with_checkpoints(opt, argv):
    """The options with what --pretrain_path's checkpoint tells of its network and
    --resume_path's of its network and clips (recipes and options the command line does not
    give, opts.for_checkpoint), and {'pretrain': ..., 'resume': ..., 'taken': [lines]}: the
    checkpoints loaded and what to say of them. The class counts stay the command line's:
    ready() and the loading check them."""
    quiet = os.environ.get('RANK', '0') != '0'  # (other torchrun ranks: rank 0 says it)
    checkpoints = {'taken': []}
    for name, path, clips in (('pretrain', opt.pretrain_path, False),
                              ('resume', opt.resume_path, True)):
        if path:
            checkpoints[name] = load_checkpoint(path)
            opt, _, taken = for_checkpoint(MAIN, argv, opt, checkpoints[name], path,
                                           clips=clips, classes=False, quiet=quiet)
            checkpoints['taken'] += [taken] if taken else []
    return opt, checkpoints


def run(opt, checkpoints=None):
    runtime = Runtime.from_options(opt)
    try:
        # Rank 0 alone writes to the result folder: it holds it for the run.
        with result_folder.held(opt.result_path) if runtime.is_main else nullcontext():
            train_and_test(opt, runtime, checkpoints or {})
    finally:
        leave_process_group()


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


def train_and_test(opt, runtime, checkpoints):
    """What a run does, in order. Everything a mistake in the input can break (options,
    checkpoints, annotation files, folders) is checked before the result folder is touched."""
    seed_everything(opt.manual_seed)
    if opt.tensorboard and runtime.is_main:
        curves.summary_writer_class()  # missing: one line now, not after the datasets
    recipe = recipes.recipe_of(opt)
    spec, clips, source = recipe.model_spec(opt), recipe.clip_settings(opt), \
        recipe.data_source(opt)
    fine_tuning = recipe.fine_tuning(opt)
    check_input_fits(spec, None if opt.no_train else opt.batch_size)
    model, parameters, pretrained = create_model(spec, fine_tuning, checkpoints.get('pretrain'))
    # The flag that sets the model's outputs, their number: the new classifier's when
    # fine-tuning (which flag sets them is the recipe's).
    outputs = (fine_tuning.classes_flag, fine_tuning.n_classes) if fine_tuning \
        else ('--n_classes', spec.n_classes)
    checkpoint, begin_epoch = None, recipe.begin_epoch(opt, None)
    if opt.resume_path:
        checkpoint = resume(model, opt.resume_path, spec.arch,
                            resume_advice(opt, recipe, outputs), checkpoints.get('resume'))
        begin_epoch = recipe.begin_epoch(opt, recipes.next_epoch(checkpoint, recipe))
    if runtime.is_main:
        for line in checkpoints.get('taken', []):
            print(line, file=sys.stderr)
        say_what_will_not_happen(opt, recipe, begin_epoch)
    if opt.resume_path and not opt.pretrain_path:
        outputs = (*outputs, (opt.resume_path, recipe))
    model = wrap_model(model, runtime, opt.sync_bn)
    training = None if opt.no_train else prepare_training(
        opt, recipe, spec, model, parameters, checkpoint, begin_epoch,
        ready(recipe.training_set(source, clips, skip_damaged=True), *outputs), outputs[1],
        runtime)
    val_loader = None if opt.no_val else loader_of(
        ready(recipe.validation_set(source, clips, skip_damaged=True), *outputs), opt, runtime,
        batch_size=recipe.validation_batch_size(opt))
    final = recipe.final_pass(opt, source, clips, outputs[1])
    if final is not None:
        ready(final.dataset, *outputs)

    sets = [loader.dataset for loader in (training and training.loader, val_loader) if loader]
    files = result_folder.RunFiles(
        opt.result_path, vars(opt), not opt.no_train, not opt.no_val, opt.tensorboard,
        opt.resume_path, final.path if final else None, opt.max_bad_clips,
        resumed_from=(training.trained + 1, begin_epoch) if training and checkpoint else None,
        skipped_videos=tuple((d.subset, video, why) for d in sets + [final and final.dataset]
                             if d for video, why in d.skipped_videos))
    logs = result_folder.start(files, runtime, begin_epoch=begin_epoch) if runtime.is_main \
        else result_folder.other_rank_logs(files)
    criterion = nn.CrossEntropyLoss().to(runtime.device)
    STOP.install()
    try:
        finished = fit(opt, begin_epoch, model, criterion, training, val_loader, logs, runtime)
        if finished and final is not None:
            logs.damage.start('-', final.name, len(final.dataset))
            final.run(evaluation_model(model), runtime, logs.damage)
    except (Interrupted, RuntimeError) as e:
        if not stopped_by_request(e):
            raise
        if runtime.is_main:
            print('stopped', file=sys.stderr)
    finally:
        STOP.uninstall()
        logs.close()


def resume_advice(opt, recipe, outputs):
    """What --resume_path's class count error advises: the flag that sets the model's
    classes, and, not fine-tuning, the way to fine-tune the file instead (a published model
    of other classes given as --resume_path was meant as --pretrain_path)."""
    flag, n_outputs = outputs
    if opt.pretrain_path:
        return lambda saved: f'set {flag} {saved}'
    return lambda saved: (f'set {flag} {saved} to resume it; to fine-tune it on your '
                          f'{n_outputs} classes instead, give '
                          f'{recipe.fine_tuning_flags(opt.resume_path, saved, n_outputs)}')


def say_what_will_not_happen(opt, recipe, begin_epoch):
    """Options that leave nothing to do, said rather than silently done."""
    for line in recipe.notes(opt):
        print(line, file=sys.stderr)
    if not opt.no_train and begin_epoch > opt.n_epochs:
        since = f'{opt.resume_path} continues at epoch {begin_epoch}' if opt.resume_path \
            else f'--begin_epoch is {begin_epoch}'
        print(f'note: nothing to train: {since} and --n_epochs is {opt.n_epochs}; raise '
              '--n_epochs to train further', file=sys.stderr)
    if not opt.no_train:
        say_how_training_clips_are_made(opt.fast_training_clips)


def say_how_training_clips_are_made(fast_flag):
    """Where the native clip core is built, --fast_training_clips has nothing left to do;
    where it is not, one line says how to get it."""
    if native.library() is not None:
        if fast_flag:
            print('note: --fast_training_clips changes nothing: the native clip core '
                  '(native/) makes the reference\'s exact training clips faster than it',
                  file=sys.stderr)
    elif not native.disabled:
        print(native.unavailable_line(), file=sys.stderr)


def prepare_training(opt, recipe, spec, model, parameters, checkpoint, begin_epoch, train_set,
                     n_outputs, runtime):
    """The training set's loader, the optimiser, scheduler and gradient scaler, restored
    from the checkpoint when resuming."""
    if runtime.amp_dtype == torch.bfloat16 and not runtime.uses_cuda:
        keep_float32_where_needed(model, opt, runtime)
    sampler = DistributedSampler(train_set, runtime.world_size, runtime.rank, shuffle=True,
                                 seed=opt.manual_seed) if runtime.distributed else None
    optimizer = OPTIMIZERS[opt.optimizer](parameters, opt.learning_rate, opt.momentum,
                                          opt.dampening, opt.weight_decay, opt.nesterov)
    scheduler = recipe.make_scheduler(opt, optimizer)
    # float16 needs its gradients scaled; bfloat16 and float32 do not.
    scaler = torch.amp.GradScaler(runtime.device.type) \
        if runtime.amp_dtype == torch.float16 else None
    if checkpoint:
        # Distributed runs seed each epoch from the seed instead of restoring random states.
        restore_training_state(checkpoint, opt.resume_path, optimizer, scheduler, scaler,
                               restore_rng=not runtime.distributed,
                               fine_tuning_flag=recipe.fine_tuning_flag)
        if checkpoint.get('scheduler') and runtime.is_main and \
                not same_scheduler_kind(checkpoint['scheduler'], scheduler):
            print(f'note: {opt.resume_path} holds another kind of learning-rate schedule than '
                  'this run\'s: it goes on from the learning rate the checkpoint reached',
                  file=sys.stderr)
        recipe.restore_schedule(opt, checkpoint, scheduler)
        given = {key: getattr(opt, flag) for flag, key in HYPERPARAMETERS.items()
                 if flag in opt.explicit}
        changed = override_hyperparameters(optimizer, given)
        if changed and runtime.is_main:
            print('resuming with ' + ', '.join(
                f'--{flag} {changed[key][1]:g} (the checkpoint had {changed[key][0]:g})'
                for flag, key in HYPERPARAMETERS.items() if key in changed))
    drop_single = not trains_on_one_clip(spec)
    loader = loader_of(train_set, opt, runtime, shuffle=True, sampler=sampler,
                       drop_single=drop_single)
    if len(loader) == 0:
        raise UserError(f'{opt.annotation_path} gives {len(train_set)} training clips, not one '
                        f'batch of --batch_size {opt.batch_size}' +
                        (f' per process ({runtime.world_size})' if runtime.distributed else '')
                        + ' (a last batch of one clip is left out: this network cannot train on'
                        ' one clip at this clip size): lower --batch_size')
    if loader.drop_last and runtime.is_main:
        print(f'note: the last training batch of each epoch would be a single clip, which the '
              f'batch norms of {spec.arch} cannot train on at --sample_size {spec.sample_size} '
              f'--sample_duration {spec.sample_duration} (one value per channel): it is left '
              'out', flush=True)
    # A checkpoint written during an epoch's validation has that epoch's training done.
    trained = begin_epoch if checkpoint and checkpoint.get('trained') == begin_epoch \
        else begin_epoch - 1
    settings = recorded_settings(recorded_options(opt, MAIN, recipe), n_outputs,
                                 train_set.class_names, recipe.name)
    return Training(loader, sampler, optimizer, scheduler, scaler, settings,
                    recipe.saves_epoch_done, 2 if drop_single else 1, trained)


def step_scheduler(scheduler, val_loss):
    """After an epoch: a plateau scheduler on the validation loss (none without
    validation), a multistep one every epoch."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if val_loss is not None:
            scheduler.step(val_loss)
    else:
        scheduler.step()


# Options that, given on the command line, win over the optimizer state of a checkpoint.
HYPERPARAMETERS = {'learning_rate': 'lr', 'momentum': 'momentum', 'weight_decay': 'weight_decay'}


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


def keep_float32_where_needed(model, opt, runtime):
    """bfloat16 training on the CPU: layers whose bfloat16 gradients this CPU gets wrong
    compute their weight gradients in float32 (see models/precision.py)."""
    shape = (opt.batch_size, 3, opt.sample_duration, opt.sample_size, opt.sample_size)
    failing = keep_float32_where_bfloat16_fails(unwrap(model), shape, runtime.memory_format)
    if failing and runtime.is_main:
        print(f'--amp: this CPU computes wrong bfloat16 gradients for {", ".join(failing)}; '
              f'{"their weight gradients are" if len(failing) > 1 else "its weight gradient is"}'
              f' computed in float32',
              file=sys.stderr)


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def loader_of(dataset, opt, runtime, shuffle=False, sampler=None, batch_size=None,
              drop_single=False):
    return make_loader(dataset, batch_size or opt.batch_size, opt.n_threads, runtime, shuffle,
                       sampler, drop_single=drop_single)


def ready(dataset, flag, n_outputs, resumed=None):
    """The dataset, its classes checked against the model's outputs (which `flag` sets):
    fewer outputs cannot learn every class, more would put names past the class list on
    the test pass's results (and are a forgotten flag: the default is Kinetics' 400).
    `resumed`: (path, recipe) of a --resume_path of those outputs, which the data's classes
    could only fine-tune."""
    n_classes = len(dataset.class_names)
    if n_outputs != n_classes:
        advice = f'set {flag} {n_classes}'
        if resumed:
            path, recipe = resumed
            advice = (f'{path} is a model of {n_outputs} classes: to fine-tune it on these '
                      f'{n_classes}, give {recipe.fine_tuning_flags(path, n_outputs, n_classes)}'
                      ' instead of --resume_path')
        raise UserError(f'{dataset.annotation_path} has {n_classes} classes but the model '
                        f'outputs {n_outputs}: {advice}')
    return dataset


if __name__ == '__main__':
    main()
