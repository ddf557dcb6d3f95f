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
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

import curves
import native
import result_folder
from clip_settings import ClipSettings
from damage import TooMuchDamage
from datasets.factory import DataSource, build_test_set
from distributed import check_replicas, evaluation_model, leave_process_group, wrap_model
from engine import LossNotFinite
from loaders import VideoBatches, make_loader
from models.checkpoint import (CLIP_OPTIONS, RECORDED_OPTIONS, differences_line,
                               override_hyperparameters, random_states, recorded_settings,
                               restore_training_state, resume, save_checkpoint,
                               setting_differences, training_state, unwrap)
from models.factory import check_input_fits, create_model
from models.precision import keep_float32_where_bfloat16_fails
from models.registry import ModelSpec
from opts import parse_opts
from recipes import family_note, recipe_name, recipe_of
from runtime import Runtime
from test import release_inference, test
from train import SkippedSteps, train_epoch
from utils import STOP, Interrupted, RunStopped, UserError, one_line
from validation import val_epoch


def main(argv=None):
    opt = parse_opts(argv)
    try:
        run(opt)
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


def run(opt):
    runtime = Runtime.from_options(opt)
    try:
        # Rank 0 alone writes to the result folder: it holds it for the run.
        with result_folder.held(opt.result_path) if runtime.is_main else nullcontext():
            train_and_test(opt, runtime)
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
    trained: int = 0  # the last epoch whose training pass is complete
    rng_after_training: dict | None = None  # random states as that pass left them
    skipped: SkippedSteps = field(default_factory=SkippedSteps)


def train_and_test(opt, runtime):
    """What a run does, in order. Everything a mistake in the input can break (options,
    checkpoints, annotation files, folders) is checked before the result folder is touched."""
    seed_everything(opt.manual_seed)
    if opt.tensorboard and runtime.is_main:
        curves.summary_writer_class()  # missing: one line now, not after the datasets
    recipe = recipe_of(opt)
    spec, clips, source = (ModelSpec.from_options(opt, recipe.model_options(opt)),
                           ClipSettings.from_options(opt), DataSource.from_options(opt))
    check_input_fits(spec, None if opt.no_train else opt.batch_size)
    model, parameters, pretrained = create_model(spec, opt.pretrain_path,
                                                 opt.n_finetune_classes, opt.ft_begin_index,
                                                 opt.recipe, opt.ft_begin_module)
    outputs = model_outputs(opt)
    checkpoint, begin_epoch = None, opt.begin_epoch
    if opt.resume_path:
        checkpoint, epoch = resume(model, opt.resume_path, spec.arch, outputs[0], opt.recipe)
        begin_epoch = recipe.begin_epoch(opt, epoch)
    if runtime.is_main:
        say_what_will_not_happen(opt, begin_epoch)
        say_what_differs_from_the_checkpoints(opt, checkpoint, pretrained)
    model = wrap_model(model, runtime, opt.sync_bn)
    training = None if opt.no_train else prepare_training(
        opt, model, parameters, checkpoint, begin_epoch,
        ready(recipe.training_set(source, clips, skip_damaged=True), *outputs), outputs[1],
        runtime)
    val_loader = None if opt.no_val else loader_of(
        ready(recipe.validation_set(source, clips, skip_damaged=True), *outputs), opt, runtime,
        batch_size=recipe.validation_batch_size(opt))
    test_set = ready(build_test_set(source, clips, skip_damaged=True), *outputs) \
        if opt.test else None
    inference_set = ready(recipe.inference_set(source, clips, opt.inference_subset,
                                               skip_damaged=True), *outputs) \
        if opt.inference else None

    logs = result_folder.start(opt, runtime, begin_epoch=begin_epoch) if runtime.is_main \
        else result_folder.other_rank_logs(opt)
    criterion = nn.CrossEntropyLoss().to(runtime.device)
    STOP.install()
    try:
        finished = fit(opt, begin_epoch, model, criterion, training, val_loader, logs, runtime)
        if finished and test_set is not None:
            logs.damage.start('-', 'test', len(test_set))
            test(loader_of(test_set, opt, runtime), evaluation_model(model),
                 test_set.class_names, os.path.join(opt.result_path, f'{opt.test_subset}.json'),
                 runtime, softmax=not opt.no_softmax_in_test, damage=logs.damage)
        if finished and inference_set is not None:
            logs.damage.start('-', 'inference', len(inference_set))
            release_inference(
                inference_loader(inference_set, opt, runtime),
                evaluation_model(model), inference_set.class_names,
                os.path.join(opt.result_path, f'{opt.inference_subset}.json'), runtime,
                opt.output_topk, average=not opt.inference_no_average, damage=logs.damage)
    except (Interrupted, RuntimeError) as e:
        if not stopped_by_request(e):
            raise
        if runtime.is_main:
            print('stopped', file=sys.stderr)
    finally:
        STOP.uninstall()
        logs.close()


def model_outputs(opt):
    """(the flag that sets the model's outputs, their number): the new classifier's when
    fine-tuning (which flag sets them is the recipe's)."""
    if not opt.pretrain_path:
        return '--n_classes', opt.n_classes
    return recipe_of(opt).FINE_TUNED_CLASSES_FLAG, opt.n_finetune_classes


def inference_loader(dataset, opt, runtime):
    """--inference's batches, as the release's: all the clips of --inference_batch_size
    videos (with --inference_crop nocrop one video, whose frames share a size: the
    release fails when videos of different sizes share a batch)."""
    videos = 1 if opt.inference_crop == 'nocrop' else opt.inference_batch_size
    batches = VideoBatches(dataset.span_video[dataset.sample_span], videos, runtime.rank,
                           runtime.world_size)
    return make_loader(dataset, None, opt.n_threads, runtime, batch_sampler=batches)


def say_what_will_not_happen(opt, begin_epoch):
    """Options that leave nothing to do, said rather than silently done."""
    for flag, value in (('--ft_begin_index', opt.ft_begin_index),
                        ('--ft_begin_module', opt.ft_begin_module)):
        if value and not opt.pretrain_path:
            print(f'note: {flag} {value} does nothing without --pretrain_path: every layer '
                  'trains', file=sys.stderr)
    if opt.colorjitter:
        print('note: --colorjitter changes nothing: the 2020 release\'s jitter has all its '
              'factors 0 (and crashes there)', file=sys.stderr)
    if family_note(opt):
        print(family_note(opt), file=sys.stderr)
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


def say_what_differs_from_the_checkpoints(opt, resumed, pretrained):
    """A line for each checkpoint whose recorded model or clip options this run changes
    (fine-tuning may change the clips on purpose, so only those are compared there)."""
    for path, checkpoint, names in ((opt.resume_path, resumed, RECORDED_OPTIONS),
                                    (opt.pretrain_path, pretrained, CLIP_OPTIONS)):
        differences = setting_differences(checkpoint, opt, names) if checkpoint else []
        if differences:
            print(f'warning: {differences_line(path, differences)}', file=sys.stderr)


def prepare_training(opt, model, parameters, checkpoint, begin_epoch, train_set, n_outputs,
                     runtime):
    """The training set's loader, the optimiser, scheduler and gradient scaler, restored
    from the checkpoint when resuming."""
    if runtime.amp_dtype == torch.bfloat16 and not runtime.uses_cuda:
        keep_float32_where_needed(model, opt, runtime)
    sampler = DistributedSampler(train_set, runtime.world_size, runtime.rank, shuffle=True,
                                 seed=opt.manual_seed) if runtime.distributed else None
    optimizer = torch.optim.SGD(parameters, lr=opt.learning_rate, momentum=opt.momentum,
                                dampening=0 if opt.nesterov else opt.dampening,
                                weight_decay=opt.weight_decay, nesterov=opt.nesterov)
    recipe = recipe_of(opt)
    scheduler = recipe.make_scheduler(opt, optimizer)
    # float16 needs its gradients scaled; bfloat16 and float32 do not.
    scaler = torch.amp.GradScaler(runtime.device.type) \
        if runtime.amp_dtype == torch.float16 else None
    if checkpoint:
        # Distributed runs seed each epoch from the seed instead of restoring random states.
        restore_training_state(checkpoint, opt.resume_path, optimizer, scheduler, scaler,
                               restore_rng=not runtime.distributed)
        recipe.restore_schedule(opt, checkpoint, scheduler)
        given = {key: getattr(opt, flag) for flag, key in HYPERPARAMETERS.items()
                 if flag in opt.explicit}
        changed = override_hyperparameters(optimizer, given)
        if changed and runtime.is_main:
            print('resuming with ' + ', '.join(
                f'--{flag} {changed[key][1]:g} (the checkpoint had {changed[key][0]:g})'
                for flag, key in HYPERPARAMETERS.items() if key in changed))
    loader = loader_of(train_set, opt, runtime, shuffle=True, sampler=sampler)
    if len(loader) == 0:
        raise UserError(f'{opt.annotation_path} gives {len(train_set)} training clips, not one '
                        f'batch of --batch_size {opt.batch_size}' +
                        (f' per process ({runtime.world_size})' if runtime.distributed else '')
                        + ' (a last batch of one clip is left out): lower --batch_size')
    # A checkpoint written during an epoch's validation has that epoch's training done.
    trained = begin_epoch if checkpoint and checkpoint.get('trained') == begin_epoch \
        else begin_epoch - 1
    settings = recorded_settings(opt, n_outputs, train_set.class_names, recipe_name(opt))
    return Training(loader, sampler, optimizer, scheduler, scaler, settings, trained)


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
    try:
        for epoch in range(begin_epoch, opt.n_epochs + 1):
            last_saved = run_epoch(epoch, opt, model, criterion, training, val_loader, logs,
                                   runtime) or last_saved
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
                                   training.scaler, training.skipped, logs.damage)
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
        return path
    return None


def state_of(training, next_epoch, opt, model):
    """The checkpoint of a run that continues at `next_epoch`, in its recipe's layout (the
    2020 release's: the epoch done, the state dict without `module.`, which its own code
    loads), with what exact resuming needs beside it."""
    # Stopped during validation: resume with the random states validation started with.
    rng = training.rng_after_training if training.trained == next_epoch else None
    done = recipe_of(opt).SAVES_EPOCH_DONE
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


def loader_of(dataset, opt, runtime, shuffle=False, sampler=None, batch_size=None):
    return make_loader(dataset, batch_size or opt.batch_size, opt.n_threads, runtime, shuffle,
                       sampler)


def ready(dataset, flag, n_outputs):
    """The dataset, its classes checked against the model's outputs (which `flag` sets):
    fewer outputs cannot learn every class, more would put names past the class list on
    the test pass's results (and are a forgotten flag: the default is Kinetics' 400)."""
    n_classes = len(dataset.class_names)
    if n_outputs != n_classes:
        raise UserError(f'{dataset.annotation_path} has {n_classes} classes but the model '
                        f'outputs {n_outputs}: set {flag} {n_classes}')
    return dataset


if __name__ == '__main__':
    main()
