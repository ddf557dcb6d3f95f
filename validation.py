"""One validation pass, without gradients; across ranks, the sums are combined at the end."""
import time

import torch

from distributed import all_reduce_sum
from utils import STOP, AverageMeter, Progress, correct_predictions


@torch.no_grad()
def val_epoch(epoch, data_loader, model, criterion, runtime, logger=None):
    """Returns the mean loss over all clips (of all ranks). The logger may be None."""
    model.eval()
    batch_time, data_time = AverageMeter(), AverageMeter()
    losses, accuracies = AverageMeter(), AverageMeter()
    progress = Progress(epoch, len(data_loader), 'val', enabled=runtime.is_main)
    end = time.perf_counter()
    for i, (inputs, targets) in enumerate(data_loader, 1):
        data_time.update(time.perf_counter() - end)
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
    loss_sum, correct, count = all_reduce_sum([losses.sum, accuracies.sum, losses.count], runtime)
    mean_loss, mean_acc = loss_sum / max(count, 1), correct / max(count, 1)
    if logger:
        logger.log({'epoch': epoch, 'loss': mean_loss, 'acc': mean_acc})
    return mean_loss
