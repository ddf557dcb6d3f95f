"""Train, validate and test a 3D CNN as the command line says.

    python main.py --root_path ~/data --video_path kinetics_videos/jpg \
        --annotation_path kinetics.json --result_path results --dataset kinetics \
        --model resnet --model_depth 34 --n_classes 400 --batch_size 128 --n_threads 4 \
        --checkpoint 5
"""
import glob
import json
import os
import random
import signal
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

import distributed

from datasets import get_test_set, get_training_set, get_validation_set
from datasets.factory import test_transforms, training_transforms, validation_transforms
from models import generate_model
from models.checkpoint import ClassCountError, load_checkpoint, load_weights, save_checkpoint
from models.factory import classifier_name
from models.precision import keep_float32_where_bfloat16_fails
from opts import parse_opts
from test import test
from train import LossNotFinite, SkippedSteps, train_epoch
from utils import STOP, Interrupted, Logger, UserError, one_line, write_text_atomically
from distributed import Context, ShardSampler
from validation import val_epoch


def main(argv=None):
    opt = parse_opts(argv)
    try:
        run(opt)
    except UserError as e:
        if opt.debug:
            raise
        print(f'error: {one_line(e)}', file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # a second SIGINT/SIGTERM
        print('stopped at once', file=sys.stderr)
        sys.exit(130)


def run(opt):
    ctx = distributed.init(opt) if opt.distributed else Context(device=choose_device(opt))
    try:
        train_and_test(opt, ctx)
    finally:
        distributed.shutdown()


def train_and_test(opt, ctx):
    device = ctx.device
    if ctx.is_main:
        check_result_path(opt)
    seed_everything(opt.manual_seed)
    opt.amp_dtype = amp_dtype(device) if opt.amp else 'float32'
    model, parameters = generate_model(opt)
    n_outputs = opt.n_finetune_classes if opt.pretrain_path else opt.n_classes
    criterion = nn.CrossEntropyLoss().to(device)
    checkpoint = resume(opt, model) if opt.resume_path else None
    memory_format = torch.channels_last_3d if opt.channels_last else torch.contiguous_format
    if opt.channels_last:
        model = model.to(memory_format=memory_format)
    if opt.amp and device.type == 'cpu' and not opt.no_train:
        keep_float32_where_needed(model, opt, memory_format, ctx)
    eval_model = model
    if opt.distributed:
        model = wrap_distributed(model, opt, ctx)

    if not opt.no_train:
        train_set = get_training_set(opt, *training_transforms(opt))
        check_classes(train_set, n_outputs)
        train_sampler = DistributedSampler(train_set, ctx.world_size, ctx.rank, shuffle=True,
                                           seed=opt.manual_seed) if opt.distributed else None
        train_loader = make_loader(train_set, opt, shuffle=True, sampler=train_sampler)
        optimizer = torch.optim.SGD(parameters, lr=opt.learning_rate, momentum=opt.momentum,
                                    dampening=0 if opt.nesterov else opt.dampening,
                                    weight_decay=opt.weight_decay, nesterov=opt.nesterov)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, 'min',
                                                               patience=opt.lr_patience)
        # float16 needs its gradients scaled; bfloat16 and float32 do not.
        scaler = torch.amp.GradScaler(device.type) if opt.amp_dtype == 'float16' else None
        if checkpoint:
            restore_training_state(checkpoint, optimizer, scheduler, scaler, opt)
    if not opt.no_val:
        val_set = get_validation_set(opt, *validation_transforms(opt))
        check_classes(val_set, n_outputs)
        val_loader = make_loader(val_set, opt, shuffle=False, sampler=shard(val_set, opt, ctx))
    if opt.test:
        test_set = get_test_set(opt, *test_transforms(opt))
        check_classes(test_set, n_outputs)

    # Everything is checked: only now touch the result folder (rank 0 alone writes).
    train_logger = batch_logger = val_logger = None
    if ctx.is_main:
        start_run_files(opt)
        if not opt.no_train:
            train_logger = Logger(os.path.join(opt.result_path, 'train.log'),
                                  ['epoch', 'loss', 'acc', 'lr'])
            batch_logger = Logger(os.path.join(opt.result_path, 'train_batch.log'),
                                  ['epoch', 'batch', 'iter', 'loss', 'acc', 'lr'])
        if not opt.no_val:
            val_logger = Logger(os.path.join(opt.result_path, 'val.log'),
                                ['epoch', 'loss', 'acc'])

    STOP.install()
    last_saved = opt.resume_path or None
    epoch = None
    skipped = SkippedSteps()
    try:
        for epoch in range(opt.begin_epoch, opt.n_epochs + 1):
            if opt.distributed:  # each rank its own draws, the same whether resumed or not
                seed_everything(opt.manual_seed + 1000 * epoch + ctx.rank)
                if not opt.no_train:
                    train_sampler.set_epoch(epoch)
            if not opt.no_train:
                _, n_batches = train_epoch(epoch, train_loader, model, criterion, optimizer,
                                           opt, train_logger, batch_logger, device, scaler, ctx,
                                           skipped)
                distributed.check_replicas(eval_model, n_batches, epoch, ctx)
            if not opt.no_val:
                val_loss = val_epoch(epoch, val_loader, eval_model, criterion, opt, val_logger,
                                     device, ctx)
            if not opt.no_train:
                if not opt.no_val:
                    scheduler.step(val_loss)
                if ctx.is_main and (epoch % opt.checkpoint == 0 or epoch == opt.n_epochs):
                    last_saved = os.path.join(opt.result_path, f'save_{epoch}.pth')
                    save_checkpoint(training_state(epoch + 1, opt, model, optimizer, scheduler,
                                                   scaler), last_saved)
        epoch = None
        if opt.test:
            test(make_loader(test_set, opt, shuffle=False, sampler=shard(test_set, opt, ctx)),
                 eval_model, opt, test_set.class_names, device, ctx)
    except (Interrupted, RuntimeError) as e:
        # A SIGTERM sent to the whole process group also ends the loader workers, and the
        # loader then reports them dead: after a stop request that is the same stop. The
        # checkpoint resumes at the start of the epoch, so a batch cut short does not count.
        if isinstance(e, RuntimeError) and not STOP.requested:
            raise
        if not ctx.is_main:
            return
        if opt.no_train or epoch is None:
            print('stopped', file=sys.stderr)
            return
        # Resume at the start of the interrupted epoch.
        path = os.path.join(opt.result_path, 'interrupted.pth')
        save_checkpoint(training_state(epoch, opt, model, optimizer, scheduler, scaler), path)
        print(f'stopped during epoch {epoch}: wrote {path}; continue with --resume_path '
              f'{path}', file=sys.stderr)
    except LossNotFinite as e:
        raise UserError(f'{e}; ' + (f'the last good checkpoint is {last_saved}' if last_saved
                                    else 'no checkpoint was written')) from None
    finally:
        STOP.uninstall()


def keep_float32_where_needed(model, opt, memory_format, ctx):
    """bfloat16 training on the CPU: layers whose bfloat16 gradients this CPU gets wrong
    compute their weight gradients in float32 (see models/precision.py)."""
    shape = (opt.batch_size, 3, opt.sample_duration, opt.sample_size, opt.sample_size)
    failing = keep_float32_where_bfloat16_fails(model, shape, memory_format)
    if failing and ctx.is_main:
        print(f'--amp: this CPU computes wrong bfloat16 gradients for {", ".join(failing)}; '
              f'{"their weight gradients are" if len(failing) > 1 else "its weight gradient is"}'
              f' computed in float32',
              file=sys.stderr)


def amp_dtype(device):
    """bfloat16 where the device computes it (CPUs, recent GPUs), float16 otherwise."""
    if device.type == 'cuda' and not torch.cuda.is_bf16_supported():
        return 'float16'
    return 'bfloat16'


def wrap_distributed(model, opt, ctx):
    if opt.sync_bn:
        if device_is_cpu(ctx):
            raise UserError('--sync_bn needs CUDA (SyncBatchNorm has no CPU implementation)')
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return DistributedDataParallel(model, device_ids=None if device_is_cpu(ctx)
                                   else [ctx.local_rank])


def device_is_cpu(ctx):
    return ctx.device.type == 'cpu'


def shard(dataset, opt, ctx):
    """Validation and test clips split across ranks, each exactly once."""
    return ShardSampler(len(dataset), ctx.rank, ctx.world_size) if opt.distributed else None


# What a training run writes: moved aside together before a new run.
RUN_FILES = ('save_*.pth', 'interrupted.pth', 'train.log', 'train_batch.log', 'val.log',
             'opts.json', 'val.json', 'test.json')


def check_result_path(opt):
    """Create the result folder if needed and make sure it can be written."""
    try:
        os.makedirs(opt.result_path, exist_ok=True)
        probe = tempfile.TemporaryFile(dir=opt.result_path)
        probe.close()
    except OSError as e:
        raise UserError(f'cannot write to --result_path {opt.result_path}: '
                        f'{e.strerror or e}') from None


def start_run_files(opt):
    """Prepare the result folder once the run is known to start: clear temporary files of
    interrupted saves, move an earlier run aside before a new training run (its
    checkpoints would be overwritten and its logs mixed), write opts.json."""
    for stale in glob.glob(os.path.join(opt.result_path, '.*.tmp')):
        os.remove(stale)
    earlier = [] if opt.no_train or opt.resume_path else [
        path for pattern in RUN_FILES for path in glob.glob(os.path.join(opt.result_path,
                                                                         pattern))]
    if earlier:
        archive = os.path.join(opt.result_path, 'earlier_run_' +
                               time.strftime('%Y%m%d-%H%M%S', time.localtime(
                                   max(map(os.path.getmtime, earlier)))))
        os.makedirs(archive, exist_ok=True)
        for path in earlier:
            os.replace(path, os.path.join(archive, os.path.basename(path)))
        print(f'{opt.result_path} held an earlier training run: moved its files to {archive} '
              '(use --resume_path to continue a run instead)')
    write_options(opt)


def write_options(opt):
    """All options, derived ones included, in result_path/opts.json."""
    write_text_atomically(os.path.join(opt.result_path, 'opts.json'),
                          json.dumps(vars(opt), indent=2, sort_keys=True))


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def choose_device(opt):
    """CUDA unless --no_cuda or there is none (said once)."""
    if not opt.no_cuda and not torch.cuda.is_available():
        print('CUDA is not available: running on the CPU (pass --no_cuda to say so)')
        opt.no_cuda = True
    return torch.device('cpu' if opt.no_cuda else 'cuda')


def seed_worker(worker_id):
    """Seed numpy in each loader worker from the seed torch gave that worker, and leave
    SIGINT (a terminal's Ctrl-C reaches the whole process group) to the main process, which
    stops after the current batch. SIGTERM still ends a worker: the loader shuts workers
    down with it."""
    np.random.seed(torch.initial_seed() % 2 ** 32)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_loader(dataset, opt, shuffle, sampler=None):
    # A last training batch of one clip breaks batch norm where a feature map is 1x1x1,
    # and would teach little: drop just that one.
    n = len(sampler) if sampler is not None else len(dataset)
    drop_last = shuffle and n % opt.batch_size == 1
    return DataLoader(dataset, batch_size=opt.batch_size, shuffle=shuffle and sampler is None,
                      sampler=sampler, num_workers=opt.n_threads, pin_memory=not opt.no_cuda,
                      worker_init_fn=seed_worker, drop_last=drop_last)


def check_classes(dataset, n_outputs):
    n_classes = len(dataset.class_names)
    if n_outputs < n_classes:
        raise UserError(f'{dataset.annotation_path} has {n_classes} classes but the model '
                        f'outputs {n_outputs}: set --n_classes (or --n_finetune_classes when '
                        f'fine-tuning) to {n_classes}')


def resume(opt, model):
    """Load --resume_path into the model and set begin_epoch from it."""
    checkpoint = load_checkpoint(opt.resume_path)
    if checkpoint.get('arch', opt.arch) != opt.arch:
        raise UserError(f'{opt.resume_path} holds a {checkpoint["arch"]} model but this run '
                        f'builds {opt.arch}: set --model and --model_depth to match it')
    try:
        load_weights(model, checkpoint['state_dict'], opt.resume_path,
                     classifier_name(opt.model))
    except ClassCountError as e:
        flag = '--n_finetune_classes' if opt.pretrain_path else '--n_classes'
        raise UserError(f'{e}: set {flag} {e.saved}') from None
    if 'epoch' in checkpoint:
        opt.begin_epoch = int(checkpoint['epoch'])
    return checkpoint


def restore_training_state(checkpoint, optimizer, scheduler, scaler, opt):
    """Optimiser, scheduler, gradient scaler and random states, so that training continues
    exactly. Distributed runs seed each epoch from the seed instead."""
    path = opt.resume_path
    if checkpoint.get('optimizer'):
        try:
            optimizer.load_state_dict(checkpoint['optimizer'])
        except (ValueError, KeyError, RuntimeError) as e:
            raise UserError(f'{path}: its optimizer state does not fit this run ({one_line(e)});'
                            ' use the same --ft_begin_index and model options as the run that '
                            'wrote it') from None
    if checkpoint.get('scheduler'):
        scheduler.load_state_dict(checkpoint['scheduler'])
    if scaler is not None and checkpoint.get('scaler'):
        scaler.load_state_dict(checkpoint['scaler'])
    rng = checkpoint.get('rng')
    if rng and not opt.distributed:
        random.setstate((rng['python'][0], tuple(rng['python'][1]), rng['python'][2]))
        name, keys, *rest = rng['numpy']
        np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
        torch.set_rng_state(rng['torch'])
        if rng.get('cuda') and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng['cuda'])


def training_state(next_epoch, opt, model, optimizer, scheduler, scaler=None):
    """What save_N.pth holds: the reference's keys plus what resuming exactly needs."""
    np_state = np.random.get_state()
    return {
        'epoch': next_epoch,
        'arch': opt.arch,
        'state_dict': model.state_dict(),
        'optimizer': optimizer.state_dict(),
        'scheduler': scheduler.state_dict(),
        'scaler': scaler.state_dict() if scaler is not None else {},
        'rng': {
            'python': random.getstate(),
            'numpy': (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                      *np_state[2:]),
            'torch': torch.get_rng_state(),
            'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
    }


if __name__ == '__main__':
    main()
