"""One validation pass, without gradients; across ranks, the sums are combined at the end."""
import time

import torch

from distributed import Context, all_reduce_sum
from utils import STOP, AverageMeter, Progress, autocast, to_device


@torch.no_grad()
def val_epoch(epoch, data_loader, model, criterion, opt, logger, device, ctx=None):
    """Returns the mean loss over all clips (of all ranks). The logger may be None."""
    ctx = ctx or Context(device=device)
    model.eval()
    batch_time, data_time = AverageMeter(), AverageMeter()
    losses, accuracies = AverageMeter(), AverageMeter()
    progress = Progress(epoch, len(data_loader), 'val', enabled=ctx.is_main)
    end = time.perf_counter()
    for i, (inputs, targets) in enumerate(data_loader, 1):
        data_time.update(time.perf_counter() - end)
        inputs = to_device(inputs, device, opt)
        targets = targets.to(device, non_blocking=True)
        with autocast(opt, device):
            outputs = model(inputs)
            loss = criterion(outputs.float(), targets)
        accuracy = (outputs.argmax(1) == targets).float().mean()
        loss_value, acc_value = torch.stack([loss, accuracy]).tolist()
        losses.update(loss_value, inputs.size(0))
        accuracies.update(acc_value, inputs.size(0))
        batch_time.update(time.perf_counter() - end)
        progress.update(i, batch_time, data_time, losses, accuracies)
        STOP.check()
        end = time.perf_counter()
    progress.close()
    loss_sum, correct, count = all_reduce_sum([losses.sum, accuracies.sum, losses.count], ctx)
    mean_loss, mean_acc = loss_sum / max(count, 1), correct / max(count, 1)
    if logger:
        logger.log({'epoch': epoch, 'loss': mean_loss, 'acc': mean_acc})
    return mean_loss
