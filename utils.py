"""Small shared pieces: the user-facing error, stop requests, running meters, TSV logs,
accuracy, atomic files."""
import contextlib
import csv
import os
import signal
import sys
import tempfile

# This program's version, which export.py writes into the model files it makes.
VERSION = '2026.12'


class UserError(Exception):
    """A mistake in the user's input: main prints its one-line message and exits 2."""


class RunStopped(Exception):
    """The run stopped before its end for the reason its message gives (damaged data past
    the bound, a failure); main prints it (when `show`, on rank 0) and exits 1."""

    def __init__(self, message, show=True):
        super().__init__(message)
        self.show = show


# The exit status of a run that a SIGTERM or SIGUSR1 stopped cleanly, its state saved: BSD's
# EX_TEMPFAIL, "try again later" (docs/cluster.md).
STOPPED_RESUMABLE = 75


class Interrupted(Exception):
    """Raised between batches after SIGINT/SIGTERM asked the run to stop."""


class StopRequest:
    """The first SIGINT, SIGTERM or SIGUSR1 asks the run to stop after the current batch; a
    second Ctrl-C (SIGINT) stops it at once (KeyboardInterrupt). A repeated SIGTERM or
    SIGUSR1 asks the same stop again: schedulers send it to every process of a job and
    torchrun passes it on to its workers, so a worker often gets it twice (a scheduler that
    will not wait ends the run with SIGKILL)."""
    # SIGUSR1: what SLURM's --signal sends before a job's time ends.
    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)

    def __init__(self):
        self.requested = False
        self.signum = None  # the signal that asked, kept after uninstall() for the exit status
        self.previous = {}
        self.deferring = self.deferred_stop = False

    def install(self):
        self.requested = False
        self.signum = None
        self.previous = {sig: signal.signal(sig, self.handle) for sig in self.SIGNALS}

    def uninstall(self):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}

    def handle(self, signum, frame):
        if self.requested and signum != signal.SIGINT:
            return
        if self.requested and self.deferring:
            self.deferred_stop = True
            return
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signum = signum
        print(f'\n{signal.Signals(signum).name}: stopping after this batch '
              '(send it again to stop at once)', file=sys.stderr, flush=True)

    def check(self):
        """Call between batches."""
        if self.requested:
            raise Interrupted

    @contextlib.contextmanager
    def deferred(self):
        """A block that a second signal does not cut short (the save of interrupted.pth):
        the stop at once it asks for comes when the block ends."""
        self.deferring, self.deferred_stop = True, False
        try:
            yield
        finally:
            self.deferring = False
        if self.deferred_stop:
            raise KeyboardInterrupt


STOP = StopRequest()


def one_line(exc, limit=None):
    """The message of `exc` on one line (its type's name if it has none), cut to `limit`
    characters if given.

    A DataLoader worker re-raises its exception with the worker's traceback in the message;
    keep only the original message, its last line.
    """
    text = str(exc).strip()
    if 'Original Traceback' in text:
        last = text.splitlines()[-1]
        text = last.split(': ', 1)[1] if ': ' in last else last
    text = ' '.join(text.split()) or type(exc).__name__
    return text if limit is None or len(text) <= limit else text[:limit - 3] + '...'


def duration(seconds):
    """'45 s', '12 min 5 s', '5 h 10 min', '3 d 4 h': two units at most."""
    seconds = int(round(seconds))
    for unit, size, smaller, small_size in (('d', 86400, 'h', 3600), ('h', 3600, 'min', 60),
                                            ('min', 60, 's', 1)):
        if seconds >= size:
            rest = (seconds % size) // small_size
            return f'{seconds // size} {unit}' + (f' {rest} {smaller}' if rest else '')
    return f'{seconds} s'


def bar_fits(stream=None):
    """Whether a progress bar shows on `stream` (default: standard error): a terminal of a
    usable width (one that reports 0 columns would show blank bars: lines instead)."""
    stream = stream or sys.stderr
    if not stream.isatty():
        return False
    try:
        return os.get_terminal_size(stream.fileno()).columns >= 20
    except (OSError, ValueError):
        return False


def counted(n, noun):
    """'1 video', '3 videos'."""
    return f'{n} {noun}' if n == 1 else f'{n} {noun}s'


def printable(text):
    """`text` as a console shows it whatever its encoding: bytes of a file name that are not
    UTF-8 (kept by Python as surrogates) written as \\xNN."""
    return text.encode('utf-8', 'surrogateescape').decode('utf-8', 'backslashreplace')


class AverageMeter:
    """Running average weighted by batch size."""

    def __init__(self):
        self.val = self.avg = self.sum = 0.0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count

    def restore(self, total, count):
        """Continue from a sum and count taken earlier (an epoch resumed mid-way)."""
        self.sum, self.count = total, count
        self.avg = total / count if count else 0.0


class Logger:
    """Tab-separated log with a header row, appended to (never truncated) and flushed per
    row so that a crash loses nothing already logged."""

    def __init__(self, path, header):
        self.header = list(header)
        fresh = not os.path.exists(path) or os.path.getsize(path) == 0
        self.file = open(path, 'a', newline='')
        self.writer = csv.writer(self.file, delimiter='\t')
        if fresh:
            self.writer.writerow(self.header)
            self.file.flush()

    def log(self, values):
        self.writer.writerow([values[column] for column in self.header])
        self.file.flush()

    def close(self):
        self.file.close()


def correct_predictions(outputs, targets):
    """How many clips of a batch have their target as the top class (a 0-d tensor on the
    batch's device, not yet read: the passes read it together with the loss)."""
    return (outputs.argmax(1) == targets).sum()


# Files are created with the permissions the user's umask gives, as open() gives them.
_UMASK = os.umask(0)
os.umask(_UMASK)


def temporary_pattern(name):
    """The names write_atomically gives its temporary files for `name` (a glob pattern)."""
    return f'.{name}.*.tmp'


def write_atomically(path, write, what='file'):
    """Replace `path` by what `write(binary file)` writes, so that readers (and a crash at
    any moment) see the old file or the new one, never a part: a temporary file in the same
    folder, flushed to disk, then renamed. A failed write (a full disk) removes the temporary
    file and raises a UserError; the old file stays."""
    if os.path.isdir(path):
        raise UserError(f'could not write {what} {path}: a folder of that name is in the way; '
                        'move it away')
    fd, tmp = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', suffix='.tmp',
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private (0600)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        # torch.save reports a full disk as a RuntimeError ("unexpected pos ...").
        if isinstance(e, (OSError, RuntimeError)):
            reason = e.strerror if isinstance(e, OSError) and e.strerror else one_line(e, 200)
            raise UserError(f'could not write {what} {path}: {reason} (is the disk full?); '
                            'the previous file is intact') from None
        raise


def write_text_atomically(path, text):
    write_atomically(path, lambda f: f.write(text.encode('utf-8')))
