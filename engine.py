"""What the passes over a loader share (training, validation, the test pass, inference):
the batch loop with its timing, progress display and stop requests, and the error of a
diverged run.
"""
import sys
import time

from utils import STOP, AverageMeter, Interrupted, UserError, bar_fits


class LossNotFinite(UserError):
    """The loss (or the gradients, batch after batch) became NaN or infinite; the step that
    would spread it was not taken."""


class Batches:
    """`with Batches(loader, 'train', epoch, runtime) as batches: for i, batch in batches`:
    the loader's batches, numbered from 1, with the time spent waiting for each (data) and
    on the whole batch measured, and a progress line or bar after each (the pass's `losses`
    and `accuracies` meters shown where it sets them).

    After a batch the loop stops with Interrupted on a stop request (Ctrl-C, SIGTERM), or,
    with `check_stop` False, when the pass sets `stop_now` (training: the ranks agree on
    stopping in their all-reduce). A batch the pass calls `skip()` on is not timed or
    shown. Leaving the `with` block, by the end or by an exception, shuts the loader's
    worker processes down at once: a run that stops then saves interrupted.pth with no
    worker left whose death PyTorch would report in the middle of the save."""

    def __init__(self, loader, title, epoch, runtime, check_stop=True, progress=None, first=0,
                 on_start=None):
        """`progress`: what shows the pass's progress instead of a Progress over batches
        (inference shows videos); `first`: the batches done before (a pass resumed mid-way,
        whose loader gives the rest); `on_start()`: called once the loader's iterator is
        made."""
        self.loader, self.check_stop, self.first = loader, check_stop, first
        self.on_start = on_start
        self.batch_time, self.data_time = AverageMeter(), AverageMeter()
        self.losses = self.accuracies = None
        self.progress = progress or Progress(epoch, len(loader), title,
                                             enabled=runtime.is_main)
        self.skipped = self.stop_now = False
        self.running = None

    def skip(self):
        self.skipped = True

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        if self.running is not None:
            self.running.close()  # its `finally` drops the loader's iterator

    def __iter__(self):
        self.running = self.batches()
        return self.running

    def batches(self):
        iterator = iter(self.loader)
        if self.on_start:
            self.on_start()
        try:
            i, end = self.first, time.perf_counter()
            for batch in iterator:
                i += 1
                self.data_time.update(time.perf_counter() - end)
                self.skipped = False
                yield i, batch
                if not self.skipped:
                    self.batch_time.update(time.perf_counter() - end)
                    self.progress.update(i, self.batch_time, self.data_time, self.losses,
                                         self.accuracies)
                    if self.stop_now or (self.check_stop and STOP.requested):
                        raise Interrupted
                end = time.perf_counter()
            self.progress.close()
        finally:
            # The last reference: a multi-process iterator shuts its workers down and
            # unregisters them from PyTorch's SIGCHLD handler as it goes.
            del iterator


class Progress:
    """Per-batch console output: a tqdm bar on a terminal, otherwise the reference's lines
    `Epoch: [e][i/N]  Time cur (avg)  Data cur (avg)  Loss cur (avg)  Acc cur (avg)`, led by
    the pass they belong to (`train`, `val`, `test`) so that interleaved passes read apart."""

    def __init__(self, epoch, n_batches, title, enabled=True):
        """`epoch`: None for a pass that has none (test)."""
        self.epoch, self.n_batches, self.title, self.enabled = epoch, n_batches, title, enabled
        self.bar = None
        if enabled and bar_fits():
            from tqdm import tqdm
            desc = title if epoch is None else f'{title} {epoch}'
            self.bar = tqdm(total=n_batches, desc=desc, unit='batch',
                            dynamic_ncols=True, leave=True)

    def update(self, i, batch_time, data_time, losses=None, accuracies=None):
        if not self.enabled:
            return
        if self.bar is not None:
            if losses is not None:
                self.bar.set_postfix(loss=f'{losses.avg:.4f}', acc=f'{accuracies.avg:.3f}',
                                     refresh=False)
            self.bar.update(1)
            return
        where = '' if self.epoch is None else f'Epoch: [{self.epoch}]'
        line = (f'{self.title} {where}[{i}/{self.n_batches}]\t'
                f'Time {batch_time.val:.3f} ({batch_time.avg:.3f})\t'
                f'Data {data_time.val:.3f} ({data_time.avg:.3f})')
        if losses is not None:
            line += (f'\tLoss {losses.val:.4f} ({losses.avg:.4f})\t'
                     f'Acc {accuracies.val:.3f} ({accuracies.avg:.3f})')
        print(line, flush=True)

    def write(self, message):
        """A warning line on stderr that does not break the bar."""
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
