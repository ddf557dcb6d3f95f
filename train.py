"""One training epoch."""
import math
import time

import torch

from utils import STOP, AverageMeter, Progress, UserError


class LossNotFinite(UserError):
    """The loss became NaN or infinite; the step that would spread it was not taken."""


def train_epoch(epoch, data_loader, model, criterion, optimizer, opt, epoch_logger,
                batch_logger, device):
    model.train()
    batch_time, data_time = AverageMeter(), AverageMeter()
    losses, accuracies = AverageMeter(), AverageMeter()
    progress = Progress(epoch, len(data_loader), 'train')
    lr = optimizer.param_groups[0]['lr']
    end = time.perf_counter()
    for i, (inputs, targets) in enumerate(data_loader, 1):
        data_time.update(time.perf_counter() - end)
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        outputs = model(inputs)
        loss = criterion(outputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # One device-to-host transfer for both numbers, before the step: a non-finite loss
        # must not reach the weights.
        accuracy = (outputs.detach().argmax(1) == targets).float().mean()
        loss_value, acc_value = torch.stack([loss.detach(), accuracy]).tolist()
        if not math.isfinite(loss_value):
            raise LossNotFinite(f'the loss became {loss_value} at epoch {epoch}, batch {i}: '
                                'try a lower --learning_rate')
        optimizer.step()
        n = inputs.size(0)
        losses.update(loss_value, n)
        accuracies.update(acc_value, n)
        batch_time.update(time.perf_counter() - end)
        batch_logger.log({'epoch': epoch, 'batch': i, 'iter': (epoch - 1) * len(data_loader) + i,
                          'loss': losses.val, 'acc': accuracies.val, 'lr': lr})
        progress.update(i, batch_time, data_time, losses, accuracies)
        STOP.check()
        end = time.perf_counter()
    progress.close()
    epoch_logger.log({'epoch': epoch, 'loss': losses.avg, 'acc': accuracies.avg, 'lr': lr})
    return losses.avg
