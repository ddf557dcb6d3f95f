"""TensorBoard curves of a run (--tensorboard): each epoch row of train.log and val.log is
also written as scalars train/loss, train/acc, train/lr (the learning rate) and val/loss,
val/acc, at the epoch's step, into event files in the result folder.

The tensorboard package is optional: without it --tensorboard stops the run at its start,
in one line. A resumed run continues the same curves: steps from its first epoch on that an
earlier writer left in the folder are dropped when TensorBoard reads them (`purge_step`).
"""
from utils import UserError

MISSING = ('--tensorboard needs the tensorboard package: pip install tensorboard (make '
           'install installs it), or leave out --tensorboard')


def summary_writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch's module imports tensorboard
        raise UserError(MISSING) from None
    return SummaryWriter


def open_writer(result_path, begin_epoch):
    """A writer of event files in `result_path`, for a run whose first epoch is
    `begin_epoch`."""
    writer_class = summary_writer_class()
    return writer_class(result_path, purge_step=begin_epoch if begin_epoch > 1 else None)


class CurveLog:
    """A log (utils.Logger) whose rows also become scalars `prefix/column` at step `epoch`."""

    def __init__(self, log, writer, prefix, columns):
        self.log_file, self.writer, self.prefix, self.columns = log, writer, prefix, columns

    def log(self, values):
        self.log_file.log(values)
        for column in self.columns:
            self.writer.add_scalar(f'{self.prefix}/{column}', float(values[column]),
                                   int(values['epoch']))
        self.writer.flush()
