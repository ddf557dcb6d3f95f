"""One validation pass, without gradients."""
import time

import torch

from utils import STOP, AverageMeter, Progress


@torch.no_grad()
def val_epoch(epoch, data_loader, model, criterion, opt, logger, device):
    model.eval()
    batch_time, data_time = AverageMeter(), AverageMeter()
    losses, accuracies = AverageMeter(), AverageMeter()
    progress = Progress(epoch, len(data_loader), 'val')
    end = time.perf_counter()
    for i, (inputs, targets) in enumerate(data_loader, 1):
        data_time.update(time.perf_counter() - end)
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        outputs = model(inputs)
        loss = criterion(outputs, targets)
        accuracy = (outputs.argmax(1) == targets).float().mean()
        loss_value, acc_value = torch.stack([loss, accuracy]).tolist()
        losses.update(loss_value, inputs.size(0))
        accuracies.update(acc_value, inputs.size(0))
        batch_time.update(time.perf_counter() - end)
        progress.update(i, batch_time, data_time, losses, accuracies)
        STOP.check()
        end = time.perf_counter()
    progress.close()
    logger.log({'epoch': epoch, 'loss': losses.avg, 'acc': accuracies.avg})
    return losses.avg
