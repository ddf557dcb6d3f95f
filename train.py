"""One training epoch."""
import math
import time

import torch

from distributed import Context, all_reduce_sum
from utils import STOP, AverageMeter, Interrupted, Progress, UserError, autocast, to_device


class LossNotFinite(UserError):
    """The loss became NaN or infinite; the step that would spread it was not taken."""


def train_epoch(epoch, data_loader, model, criterion, optimizer, opt, epoch_logger,
                batch_logger, device, scaler=None, ctx=None):
    """Train one epoch; returns (mean loss, batches). Loggers may be None (ranks > 0)."""
    ctx = ctx or Context(device=device)
    model.train()
    batch_time, data_time = AverageMeter(), AverageMeter()
    losses, accuracies = AverageMeter(), AverageMeter()
    progress = Progress(epoch, len(data_loader), 'train', enabled=ctx.is_main)
    lr = optimizer.param_groups[0]['lr']
    end = time.perf_counter()
    for i, (inputs, targets) in enumerate(data_loader, 1):
        data_time.update(time.perf_counter() - end)
        inputs = to_device(inputs, device, opt)
        targets = targets.to(device, non_blocking=True)
        with autocast(opt, device):
            outputs = model(inputs)
            loss = criterion(outputs, targets)
        optimizer.zero_grad(set_to_none=True)
        (loss if scaler is None else scaler.scale(loss)).backward()

        # The batch's numbers in one transfer (and, across ranks, one all-reduce that also
        # agrees on stopping), before the step: a non-finite loss must not reach the weights.
        n = inputs.size(0)
        hits = (outputs.detach().argmax(1) == targets).sum()
        loss_value, correct = torch.stack([loss.detach().float(), hits.float()]).tolist()
        loss_sum, correct, count, stop = all_reduce_sum(
            [loss_value * n, correct, n, float(STOP.requested)], ctx)
        if not math.isfinite(loss_sum):
            raise LossNotFinite(f'the loss became {loss_sum / count} at epoch {epoch}, batch '
                                f'{i}: try a lower --learning_rate')
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)
            scaler.update()

        losses.update(loss_sum / count, count)
        accuracies.update(correct / count, count)
        batch_time.update(time.perf_counter() - end)
        if batch_logger:
            batch_logger.log({'epoch': epoch, 'batch': i,
                              'iter': (epoch - 1) * len(data_loader) + i,
                              'loss': losses.val, 'acc': accuracies.val, 'lr': lr})
        progress.update(i, batch_time, data_time, losses, accuracies)
        if stop:
            raise Interrupted
        end = time.perf_counter()
    progress.close()
    if epoch_logger:
        epoch_logger.log({'epoch': epoch, 'loss': losses.avg, 'acc': accuracies.avg, 'lr': lr})
    return losses.avg, len(data_loader)
