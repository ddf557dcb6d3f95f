"""One validation pass, without gradients; across ranks, the sums are combined at the end."""
import math
import sys
import time

import torch

from damage import DamageReport
from distributed import all_reduce_sum
from train import LossNotFinite
from utils import STOP, AverageMeter, Progress, correct_predictions


@torch.no_grad()
def val_epoch(epoch, data_loader, model, criterion, runtime, logger=None, damage=None):
    """Returns the mean loss over all clips (of all ranks). The logger may be None.

    Damaged clips are left out of the averages and reported by `damage`; their count over
    all ranks is checked against its bound at the end (ranks hold different numbers of
    batches, so they can only agree then)."""
    damage = damage or DamageReport(None, float('inf'))
    damage.start(epoch, 'val', len(data_loader.dataset))
    model.eval()
    batch_time, data_time = AverageMeter(), AverageMeter()
    losses, accuracies = AverageMeter(), AverageMeter()
    progress = Progress(epoch, len(data_loader), 'val', enabled=runtime.is_main)
    n_damaged = 0
    end = time.perf_counter()
    for i, (inputs, targets, damaged) in enumerate(data_loader, 1):
        data_time.update(time.perf_counter() - end)
        damage.record(damaged)
        n_damaged += len(damaged)
        if inputs is not None:
            inputs = runtime.to_device(inputs)
            targets = targets.to(runtime.device, non_blocking=True)
            with runtime.autocast():
                outputs = model(inputs)
                loss = criterion(outputs.float(), targets)
            n = inputs.size(0)
            loss_value, correct = torch.stack(
                [loss.float(), correct_predictions(outputs, targets).float()]).tolist()
            losses.update(loss_value, n)
            accuracies.update(correct / n, n)
        batch_time.update(time.perf_counter() - end)
        progress.update(i, batch_time, data_time, losses, accuracies)
        STOP.check()
        end = time.perf_counter()
    progress.close()
    loss_sum, correct, count, n_damaged = all_reduce_sum(
        [losses.sum, accuracies.sum, losses.count, n_damaged], runtime)
    damage.add(n_damaged)
    if runtime.is_main and damage.epoch_note():
        print(damage.epoch_note(), file=sys.stderr, flush=True)
    mean_loss, mean_acc = loss_sum / max(count, 1), correct / max(count, 1)
    if not math.isfinite(mean_loss):  # never logged: a diverged model is no result
        raise LossNotFinite(f'the validation loss became {mean_loss} at epoch {epoch}')
    if logger:
        logger.log({'epoch': epoch, 'loss': mean_loss, 'acc': mean_acc})
    return mean_loss
