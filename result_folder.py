"""The result folder's life: checked writable before a run, an earlier training run moved
aside when a new one starts, the options written, the logs opened."""
import glob
import json
import os
import tempfile
import time
from dataclasses import dataclass

from damage import DamageReport
from utils import Logger, UserError, write_text_atomically

# What a training run writes: moved aside together before a new run.
RUN_FILES = ('save_*.pth', 'interrupted.pth', 'train.log', 'train_batch.log', 'val.log',
             'opts.json', 'val.json', 'test.json', 'bad_frames.log')


@dataclass
class RunLogs:
    """The run's tab-separated logs; None where the run does not write one (a pass that
    does not run, or a rank other than 0). Every rank reports its damaged clips to
    bad_frames.log itself."""
    damage: DamageReport
    train: Logger | None = None
    train_batch: Logger | None = None
    val: Logger | None = None


def check_writable(result_path):
    """Create the result folder if needed and make sure it can be written."""
    try:
        os.makedirs(result_path, exist_ok=True)
        probe = tempfile.TemporaryFile(dir=result_path)
        probe.close()
    except OSError as e:
        raise UserError(f'cannot write to --result_path {result_path}: '
                        f'{e.strerror or e}') from None


def start(opt, runtime):
    """Prepare the result folder once the run is known to start, and open its logs: clear
    temporary files of interrupted saves, move an earlier run aside before a new training
    run (its checkpoints would be overwritten and its logs mixed), write opts.json."""
    result_path = opt.result_path
    for stale in glob.glob(os.path.join(result_path, '.*.tmp')):
        os.remove(stale)
    if not opt.no_train and not opt.resume_path:
        move_earlier_run_aside(result_path)
    write_options(opt, runtime)
    logs = other_rank_logs(opt)
    if not opt.no_train:
        logs.train = Logger(os.path.join(result_path, 'train.log'), ['epoch', 'loss', 'acc', 'lr'])
        logs.train_batch = Logger(os.path.join(result_path, 'train_batch.log'),
                                  ['epoch', 'batch', 'iter', 'loss', 'acc', 'lr'])
    if not opt.no_val:
        logs.val = Logger(os.path.join(result_path, 'val.log'), ['epoch', 'loss', 'acc'])
    return logs


def other_rank_logs(opt):
    """The logs of a rank other than 0: only its damaged clips."""
    return RunLogs(DamageReport(opt.result_path, opt.max_bad_clips))


def move_earlier_run_aside(result_path):
    earlier = [path for pattern in RUN_FILES
               for path in glob.glob(os.path.join(result_path, pattern))]
    if not earlier:
        return
    archive = os.path.join(result_path, 'earlier_run_' + time.strftime(
        '%Y%m%d-%H%M%S', time.localtime(max(map(os.path.getmtime, earlier)))))
    os.makedirs(archive, exist_ok=True)
    for path in earlier:
        os.replace(path, os.path.join(archive, os.path.basename(path)))
    print(f'{result_path} held an earlier training run: moved its files to {archive} '
          '(use --resume_path to continue a run instead)')


def write_options(opt, runtime):
    """All options, derived ones included, and the device and precision the run uses, in
    result_path/opts.json."""
    options = dict(vars(opt), device=str(runtime.device), amp_dtype=runtime.precision)
    write_text_atomically(os.path.join(opt.result_path, 'opts.json'),
                          json.dumps(options, indent=2, sort_keys=True))
