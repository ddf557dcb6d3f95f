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
from contextlib import nullcontext

import torch
from torch import nn
from torch.utils.data import DistributedSampler

import curves
import native
import recipes
import result_folder
from argtypes import MAIN
import resume_auto
from distributed import agreed, evaluation_model, leave_process_group, wrap_model
from epochs import Training, fit, mid_epoch_start, seed_everything, stopped_by_request
from loaders import make_loader
from models.checkpoint import (load_checkpoint, override_hyperparameters, recorded_settings,
                               restore_training_state, resume, same_scheduler_kind, unwrap)
from models.factory import check_input_fits, create_model, trains_on_one_clip
from models.precision import keep_float32_where_bfloat16_fails
from opts import for_checkpoint, parse_opts, recorded_options
from runtime import Runtime
from train import OPTIMIZERS
from utils import STOP, STOPPED_RESUMABLE, Interrupted, RunStopped, UserError, one_line


def main(argv=None):
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    opt = parse_opts(argv)
    try:
        opt, chosen = with_resume_decided(opt)
        opt, checkpoints = with_checkpoints(opt, argv, chosen)
        run(opt, checkpoints)
        if STOP.signum is not None:  # stopped cleanly on a signal
            # Ctrl-C: as shells expect; a scheduler's SIGTERM or SIGUSR1: "stopped, resume me"
            # (the same command with --resume_path auto continues).
            sys.exit(130 if STOP.signum == signal.SIGINT else STOPPED_RESUMABLE)
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


def with_resume_decided(opt):
    """--resume_path auto made the path of the result folder's latest state (or none: a
    fresh start), rank 0 deciding for all under torchrun: (options, the checkpoint rank 0
    loaded to choose it or None)."""
    if opt.resume_path != resume_auto.AUTO:
        return opt, None
    recipe_name = recipes.recipe_of(opt).name if 'recipe' in opt.explicit else None
    kept = {}

    def decide():
        path, kept['checkpoint'] = resume_auto.choose(
            opt.result_path, opt.arch, recipe_name,
            say=lambda line: print(line, file=sys.stderr))
        print(resume_auto.decision_line(opt.result_path, path, kept['checkpoint']),
              file=sys.stderr, flush=True)
        return path
    opt.resume_path = (agreed(decide, not opt.no_cuda and torch.cuda.is_available())
                       if opt.distributed else decide()) or ''
    return opt, kept.get('checkpoint')


def with_checkpoints(opt, argv, chosen=None):
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
            checkpoints[name] = chosen if name == 'resume' and chosen else load_checkpoint(path)
            opt, _, taken = for_checkpoint(MAIN, argv, opt, checkpoints[name], path,
                                           clips=clips, classes=False, quiet=quiet)
            setattr(opt, f'{name}_path', path)  # (the command line parsed again says auto)
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


def train_and_test(opt, runtime, checkpoints):
    """What a run does, in order. Everything a mistake in the input can break (options,
    checkpoints, annotation files, folders) is checked before the result folder is touched."""
    seed_everything(opt.manual_seed)
    if opt.tensorboard and runtime.is_main:
        curves.summary_writer_class()  # missing: one line now, not after the datasets
    recipe = recipes.recipe_of(opt)
    clips, source = recipe.clip_settings(opt), recipe.data_source(opt)
    spec, model, parameters, outputs, checkpoint, begin_epoch = model_and_first_epoch(
        opt, recipe, checkpoints)
    if runtime.is_main:
        for line in checkpoints.get('taken', []):
            print(line, file=sys.stderr)
        say_what_will_not_happen(opt, recipe, begin_epoch)
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

    files = run_files(opt, training, val_loader, final, checkpoint, begin_epoch)
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


def model_and_first_epoch(opt, recipe, checkpoints):
    """(the ModelSpec, the model with its pretrained or resumed weights, the parameters to
    optimise, (the flag that sets the model's outputs, their number[, the resumed file and
    recipe]), the resumed checkpoint or None, the first epoch)."""
    spec = recipe.model_spec(opt)
    fine_tuning = recipe.fine_tuning(opt)
    check_input_fits(spec, None if opt.no_train else opt.batch_size)
    model, parameters, _ = create_model(spec, fine_tuning, checkpoints.get('pretrain'))
    # The new classifier's outputs when fine-tuning (which flag sets them is the recipe's).
    outputs = (fine_tuning.classes_flag, fine_tuning.n_classes) if fine_tuning \
        else ('--n_classes', spec.n_classes)
    checkpoint, begin_epoch = None, recipe.begin_epoch(opt, None)
    if opt.resume_path:
        checkpoint = resume(model, opt.resume_path, spec.arch,
                            resume_advice(opt, recipe, outputs), checkpoints.get('resume'))
        begin_epoch = recipe.begin_epoch(opt, recipes.next_epoch(checkpoint, recipe))
        if not opt.pretrain_path:  # (data of other classes: ready() says how to fine-tune)
            outputs = (*outputs, (opt.resume_path, recipe))
    return spec, model, parameters, outputs, checkpoint, begin_epoch


def run_files(opt, training, val_loader, final, checkpoint, begin_epoch):
    """What the run writes into its result folder (result_folder.RunFiles)."""
    sets = [loader.dataset for loader in (training and training.loader, val_loader) if loader]
    sets += [final.dataset] if final else []
    return result_folder.RunFiles(
        opt.result_path, vars(opt), not opt.no_train, not opt.no_val, opt.tensorboard,
        opt.resume_path, final.path if final else None, opt.max_bad_clips,
        resumed_from=(training.trained + 1, begin_epoch,
                      training.start.batches if training.start else 0)
        if training and checkpoint else None,
        skipped_videos=tuple((d.subset, video, why) for d in sets
                             for video, why in d.skipped_videos))


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


# Options that, given on the command line, win over the optimizer state of a checkpoint.
HYPERPARAMETERS = {'learning_rate': 'lr', 'momentum': 'momentum', 'weight_decay': 'weight_decay'}


def prepare_training(opt, recipe, spec, model, parameters, checkpoint, begin_epoch, train_set,
                     n_outputs, runtime):
    """The training set's loader, the optimiser, scheduler and gradient scaler, restored
    from the checkpoint when resuming."""
    if runtime.amp_dtype == torch.bfloat16 and not runtime.uses_cuda:
        keep_float32_where_needed(model, spec, opt, runtime)
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
    loader, drop_single = training_loader(opt, spec, train_set, sampler, runtime)
    # A checkpoint written during an epoch's validation has that epoch's training done.
    trained = begin_epoch if checkpoint and checkpoint.get('trained') == begin_epoch \
        else begin_epoch - 1
    settings = recorded_settings(recorded_options(opt, MAIN, recipe), n_outputs,
                                 train_set.class_names, recipe.name)
    start, start_loader = mid_epoch_start(
        checkpoint, opt.resume_path, loader, begin_epoch, runtime,
        lambda workers: make_loader(train_set, opt.batch_size, workers, runtime, True, sampler,
                                    drop_single=drop_single, stateful=True)) \
        if checkpoint else (None, None)
    return Training(loader, sampler, optimizer, scheduler, scaler, settings,
                    recipe.saves_epoch_done, 2 if drop_single else 1, trained,
                    every_steps=opt.checkpoint_every_steps, start=start,
                    start_loader=start_loader)


def training_loader(opt, spec, train_set, sampler, runtime):
    """(the training loader, whether it leaves out a last batch of one clip): one whose
    position a checkpoint keeps (loaders.make_loader), with at least one batch."""
    drop_single = not trains_on_one_clip(spec)
    loader = make_loader(train_set, opt.batch_size, opt.n_threads, runtime, True, sampler,
                         drop_single=drop_single, stateful=True)
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
    return loader, drop_single


def keep_float32_where_needed(model, spec, opt, runtime):
    """bfloat16 training on the CPU: layers whose bfloat16 gradients this CPU gets wrong
    compute their weight gradients in float32 (see models/precision.py)."""
    shape = (opt.batch_size, spec.n_input_channels, opt.sample_duration, opt.sample_size,
             opt.sample_size)
    failing = keep_float32_where_bfloat16_fails(unwrap(model), shape, runtime.memory_format)
    if failing and runtime.is_main:
        print(f'--amp: this CPU computes wrong bfloat16 gradients for {", ".join(failing)}; '
              f'{"their weight gradients are" if len(failing) > 1 else "its weight gradient is"}'
              f' computed in float32',
              file=sys.stderr)


def loader_of(dataset, opt, runtime, batch_size=None):
    """An evaluation pass's loader (clips split across ranks)."""
    return make_loader(dataset, batch_size or opt.batch_size, opt.n_threads, runtime)


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
