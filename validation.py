"""One validation pass, without gradients; across ranks, the sums are combined at the end."""
import math
import sys

import torch

from damage import DamageReport
from distributed import all_reduce_sum
from engine import Batches, LossNotFinite
from utils import AverageMeter, correct_predictions


@torch.no_grad()
def val_epoch(epoch, data_loader, model, criterion, runtime, logger=None, damage=None):
    """Returns the mean loss over all clips (of all ranks). The logger may be None.

    Damaged clips are left out of the averages and reported by `damage`; their count over
    all ranks is checked against its bound at the end (ranks hold different numbers of
    batches, so they can only agree then)."""
    damage = damage or DamageReport(None, float('inf'))
    damage.start(epoch, 'val', len(data_loader.dataset))
    model.eval()
    with Batches(data_loader, 'val', epoch, runtime) as batches:
        losses = batches.losses = AverageMeter()
        accuracies = batches.accuracies = AverageMeter()
        n_damaged = 0
        for _, (inputs, targets, damaged) in batches:
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
    if runtime.is_main:  # the epoch's line, as val.log has it
        print(f'val epoch {epoch}: loss {mean_loss:.4f}, acc {mean_acc:.3f}', flush=True)
    return mean_loss
