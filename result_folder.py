"""The result folder's life: checked writable and locked before a run, an earlier training
run moved aside when a new one starts, the options written, the logs opened."""
import contextlib
import csv
import fcntl
import glob
import io
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import curves
from damage import DamageReport
from utils import Logger, UserError, counted, temporary_pattern, write_text_atomically

# What a training run writes: moved aside together before a new run.
RUN_FILES = ('save_*.pth', 'interrupted.pth', 'latest.pth', 'train.log', 'train_batch.log', 'val.log',
             'opts.json', 'opts_no_train.json', 'val.json', 'test.json', 'bad_frames.log',
             'events.out.tfevents.*', 'skipped_videos.txt', 'curves.png')
SKIPPED = 'skipped_videos.txt'
# The logs a resumed run writes rows to again, by the pass their rows belong to.
EPOCH_LOGS = (('train.log', 'train'), ('train_batch.log', 'train'), ('val.log', 'val'))


@dataclass
class RunLogs:
    """The run's tab-separated logs; None where the run does not write one (a pass that
    does not run, or a rank other than 0). Every rank reports its damaged clips to
    bad_frames.log itself."""
    damage: DamageReport
    train: Logger | None = None
    train_batch: Logger | None = None
    val: Logger | None = None
    curves: object | None = None  # the TensorBoard writer (--tensorboard), closed at the end

    def close(self):
        if self.curves is not None:
            self.curves.close()


def check_writable(result_path, flag='--result_path'):
    """Create the output folder `flag` names if needed and make sure it can be written."""
    if os.path.exists(result_path) and not os.path.isdir(result_path):
        raise UserError(f'{flag} {result_path} is a file, not a folder: give a folder (it is '
                        'created if missing)')
    try:
        os.makedirs(result_path, exist_ok=True)
        probe = tempfile.TemporaryFile(dir=result_path)
        probe.close()
    except OSError as e:
        raise UserError(f'cannot write to {flag} {result_path}: {e.strerror or e}') from None


@contextlib.contextmanager
def held(result_path, flag='--result_path'):
    """The result folder, created if needed, checked writable and held for the run: a second
    run into the same folder would move the first one's files away or mix its logs. The
    folder itself is locked, so nothing is written to it; on a file system without locks
    (some cluster mounts) runs are not kept apart."""
    check_writable(result_path, flag)
    fd = os.open(result_path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f'{flag} {result_path} is in use by a run still going: '
                            'wait for it to end or choose another folder') from None
        except OSError:  # no locks on this file system
            pass
        yield
    finally:
        os.close(fd)  # releases the lock


@dataclass(frozen=True)
class RunFiles:
    """What a run writes into its result folder, decided from the options."""
    path: str  # --result_path
    options: dict  # every option, derived ones included (opts.json)
    train: bool
    val: bool
    tensorboard: bool
    resume_path: str = ''
    final_results: str | None = None  # the JSON file of the pass after the epochs
    max_bad_clips: float = 0.01
    # where a resumed run trains and validates again from (epochs), and the batches of its
    # first training epoch done before
    resumed_from: tuple | None = None
    skipped_videos: tuple = ()  # (subset, video, why) the datasets left out


def start(files, runtime, **decided):
    """Prepare the result folder once the run is known to start, and open its logs: clear
    the temporary files of interrupted saves, move an earlier run aside before a new
    training run (its checkpoints would be overwritten and its logs mixed), keep earlier
    results of the pass after the epochs, write the options and what the run `decided`
    from them."""
    for pattern in RUN_FILES:
        for stale in glob.glob(os.path.join(files.path, temporary_pattern(pattern))):
            os.remove(stale)
    if files.train and not resumes_own_run(files.resume_path, files.path):
        move_earlier_run_aside(files.path)
    elif files.train and files.resumed_from:
        set_aside_superseded(files.path, files.resume_path, *files.resumed_from)
    if files.final_results:
        keep_earlier_test_results(files.final_results)
    write_options(files, runtime, **decided)
    write_skipped_videos(files)
    logs = other_rank_logs(files)
    if files.train:
        logs.train = Logger(os.path.join(files.path, 'train.log'), ['epoch', 'loss', 'acc', 'lr'])
        logs.train_batch = Logger(os.path.join(files.path, 'train_batch.log'),
                                  ['epoch', 'batch', 'iter', 'loss', 'acc', 'lr'])
    if files.val:
        logs.val = Logger(os.path.join(files.path, 'val.log'), ['epoch', 'loss', 'acc'])
    if files.tensorboard and (logs.train or logs.val):
        logs.curves = curves.open_writer(files.path, decided.get('begin_epoch', 1))
        if logs.train:
            logs.train = curves.CurveLog(logs.train, logs.curves, 'train', ('loss', 'acc', 'lr'))
        if logs.val:
            logs.val = curves.CurveLog(logs.val, logs.curves, 'val', ('loss', 'acc'))
    return logs


def other_rank_logs(files):
    """The logs of a rank other than 0: only its damaged clips."""
    return RunLogs(DamageReport(files.path, files.max_bad_clips))


def resumes_own_run(resume_path, result_path):
    """True when `resume_path` is a checkpoint of the run in `result_path` (a checkpoint of
    another folder starts a new run here, which moves this folder's run aside)."""
    return bool(resume_path) and os.path.samefile(os.path.dirname(
        os.path.abspath(resume_path)), result_path)


def set_aside_superseded(result_path, resume_path, train_from, validate_from, batches_done=0):
    """A run resumed from an earlier point of its own history (save_1.pth where save_2.pth
    is; interrupted.pth written mid-epoch, where train_batch.log went on) would overwrite
    what came after it: the checkpoints of the epochs it runs again, an interrupted.pth or
    latest.pth of a later point, their log rows. Those files and the logs as they are go to
    superseded_<date>/, said in one line; the logs keep their rows up to the resumed point
    (`batches_done` of epoch `train_from`), so that they hold one row an epoch (a batch)."""
    later = [path for path in glob.glob(os.path.join(result_path, 'save_*.pth'))
             if epoch_of(path) is not None and epoch_of(path) >= validate_from]
    for name in ('interrupted.pth', 'latest.pth'):
        state = os.path.join(result_path, name)
        if os.path.exists(state) and not os.path.samefile(state, resume_path):
            later.append(state)
    logs = {}
    for name, kind in EPOCH_LOGS:
        path = os.path.join(result_path, name)
        first = train_from if kind == 'train' else validate_from
        rows = read_rows(path)
        kept = [row for row in rows[1:] if not row_epoch(row) >= first or
                name == 'train_batch.log' and row_epoch(row) == first and
                len(row) > 1 and row[1].isdigit() and int(row[1]) <= batches_done]
        if len(kept) < len(rows) - 1:
            logs[path] = rows[:1] + kept
    if not later and not logs:
        return
    folder = os.path.join(result_path, 'superseded_' + time.strftime('%Y%m%d-%H%M%S'))
    os.makedirs(folder, exist_ok=True)
    for path in later:
        os.replace(path, os.path.join(folder, os.path.basename(path)))
    for path, rows in logs.items():
        shutil.copy2(path, os.path.join(folder, os.path.basename(path)))
        text = io.StringIO()
        csv.writer(text, delimiter='\t').writerows(rows)  # as Logger writes them
        write_text_atomically(path, text.getvalue())
    print(f'{resume_path} resumes at epoch {validate_from}: what this folder held from there '
          f'on ({", ".join(sorted(os.path.basename(p) for p in later + list(logs)))}) is '
          f'kept in {folder}')


def epoch_of(path):
    """N of save_N.pth, or None."""
    number = os.path.basename(path)[len('save_'):-len('.pth')]
    return int(number) if number.isdigit() else None


def read_rows(path):
    try:
        with open(path, newline='') as f:
            return list(csv.reader(f, delimiter='\t'))
    except FileNotFoundError:
        return []


def row_epoch(row):
    """A log row's epoch (its first column), or None for a row that does not start with one."""
    return int(row[0]) if row and row[0].isdigit() else None


def write_skipped_videos(files):
    """The videos the datasets left out, one a line (subset, video, why), in
    skipped_videos.txt (removed when none)."""
    path = os.path.join(files.path, SKIPPED)
    if not files.skipped_videos:
        if os.path.exists(path):
            os.remove(path)
        return
    write_text_atomically(path, ''.join(f'{subset}\t{video}\t{why}\n' for subset, video, why
                                        in files.skipped_videos))
    print(f'the {counted(len(files.skipped_videos), "video")} left out: listed in {path}')


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


def keep_earlier_test_results(path):
    """Before a test pass writes `path`, an earlier test's file there is renamed with its
    date (a test of another checkpoint into the same folder would overwrite it)."""
    if not os.path.exists(path):
        return
    stem, ext = os.path.splitext(path)
    kept = f'{stem}_{time.strftime("%Y%m%d-%H%M%S", time.localtime(os.path.getmtime(path)))}'
    n = 1
    while os.path.exists(f'{kept}{"" if n == 1 else f"_{n}"}{ext}'):
        n += 1
    kept = f'{kept}{"" if n == 1 else f"_{n}"}{ext}'
    os.replace(path, kept)
    print(f'kept the earlier results {path} as {kept}')


def write_options(files, runtime, **decided):
    """All options, derived ones included, what the run `decided` from them (the epoch a
    resumed run begins at) and the device and precision it uses, in result_path/opts.json;
    a run that does not train writes opts_no_train.json instead, and leaves the training
    run's opts.json as it is."""
    options = dict(files.options, **decided, device=str(runtime.device),
                   amp_dtype=runtime.precision)
    name = 'opts.json' if files.train else 'opts_no_train.json'
    write_text_atomically(os.path.join(files.path, name),
                          json.dumps(options, indent=2, sort_keys=True))
