"""One training epoch, and the optimisers --optimizer names."""
import math
import sys
from dataclasses import dataclass

import torch

from damage import DamageReport
from distributed import all_reduce_sum
from engine import Batches, LossNotFinite
from random_state import set_random_states
from utils import STOP, AverageMeter, correct_predictions


# A finite loss whose gradients are not finite is an accident of the backward pass (PyTorch's
# CPU bfloat16 kernels produced them for some layers: see models/precision.py); the step is
# skipped, as a GradScaler skips float16 overflows. This many in a row: the run stops.
MAX_SKIPPED_STEPS = 3


def sgd(parameters, lr, momentum, dampening, weight_decay, nesterov):
    return torch.optim.SGD(parameters, lr=lr, momentum=momentum,
                           dampening=0 if nesterov else dampening, weight_decay=weight_decay,
                           nesterov=nesterov)


# --optimizer's choices: the reference offers SGD only.
OPTIMIZERS = {'sgd': sgd}


@dataclass
class EpochStart:
    """Where a training pass stands after a batch, and where one resumed mid-epoch starts:
    the batches done and the running sums of their loss and accuracy."""
    batches: int = 0
    loss_sum: float = 0.0
    correct_sum: float = 0.0
    count: int = 0
    rng: dict | None = None  # this process's random states then, to resume with


class SkippedSteps:
    """Steps skipped in a row for non-finite gradients, counted across epochs."""

    def __init__(self):
        self.in_a_row = 0


def train_epoch(epoch, data_loader, model, criterion, optimizer, runtime, epoch_logger=None,
                batch_logger=None, scaler=None, skipped=None, damage=None, min_clips=2,
                start=None, after_batch=None):
    """Train one epoch; returns (mean loss, batches). Loggers may be None (ranks > 0).
    `start`: an EpochStart to continue from (its loader gives the batches after it);
    `after_batch(EpochStart, stopping)`: called after every batch, the step taken.

    Batches are (clips, targets, damaged clips left out), as collate_skipping_damaged makes
    them; `damage` reports and counts the damaged ones (TooMuchDamage past its bound).
    `min_clips`: a batch of fewer clips is skipped (2 where the network cannot train on one
    clip at this clip size)."""
    skipped = skipped or SkippedSteps()
    damage = damage or DamageReport(None, float('inf'))
    damage.start(epoch, 'train', len(data_loader.dataset))
    model.train()
    start = start or EpochStart()
    after_batch = after_batch or (lambda position, stopping: None)
    # A resumed pass takes its random states once its loader has drawn its own seeds: the
    # draws that follow are those of the pass that was stopped.
    resumed = (lambda: set_random_states(start.rng)) if start.rng else None
    with Batches(data_loader, 'train', epoch, runtime, check_stop=False,
                 first=start.batches, on_start=resumed) as batches:
        losses = batches.losses = AverageMeter()
        accuracies = batches.accuracies = AverageMeter()
        losses.restore(start.loss_sum, start.count)
        accuracies.restore(start.correct_sum, start.count)
        lr = optimizer.param_groups[0]['lr']

        def position(i):
            return EpochStart(i, losses.sum, accuracies.sum, losses.count)
        for i, (inputs, targets, damaged) in batches:
            if not usable(inputs, damaged, damage, min(min_clips, data_loader.batch_size),
                          runtime):
                batches.skip()
                after_batch(position(i), False)
                continue
            inputs = runtime.to_device(inputs)
            targets = targets.to(runtime.device, non_blocking=True)
            with runtime.autocast():
                outputs = model(inputs)
                loss = criterion(outputs, targets)
            optimizer.zero_grad(set_to_none=True)
            (loss if scaler is None else scaler.scale(loss)).backward()

            # The batch's numbers in one transfer (and, across ranks, one all-reduce that also
            # agrees on stopping), before the step: nothing non-finite may reach the weights.
            n = inputs.size(0)
            hits = correct_predictions(outputs.detach(), targets)
            # (A GradScaler checks its scaled gradients itself.)
            grad_norm = gradient_norm(model, loss) if scaler is None else loss.new_zeros(())
            loss_value, correct, grad_norm = torch.stack(
                [loss.detach().float(), hits.float(), grad_norm.float()]).tolist()
            loss_sum, correct, count, grad_norm, stop = all_reduce_sum(
                [loss_value * n, correct, n, grad_norm, float(STOP.requested)], runtime)
            if not math.isfinite(loss_sum):
                raise LossNotFinite(f'the loss became {loss_sum / count} at epoch {epoch}, batch '
                                    f'{i}')
            if scaler is not None:  # it skips steps with overflowed (scaled) gradients itself
                scaler.step(optimizer)
                scaler.update()
            elif math.isfinite(grad_norm):
                optimizer.step()
                skipped.in_a_row = 0
            else:
                skipped.in_a_row += 1
                if skipped.in_a_row == MAX_SKIPPED_STEPS:
                    raise LossNotFinite(f'the gradients became {grad_norm} in {MAX_SKIPPED_STEPS} '
                                        f'batches in a row, the last at epoch {epoch}, batch {i}')
                if runtime.is_main:
                    batches.progress.write(f'epoch {epoch}, batch {i}: the gradients are not '
                                           f'finite (the loss is {loss_sum / count:.4f}); this '
                                           'step is skipped')

            losses.update(loss_sum / count, count)
            accuracies.update(correct / count, count)
            if batch_logger:
                batch_logger.log({'epoch': epoch, 'batch': i,
                                  'iter': (epoch - 1) * len(data_loader) + i,
                                  'loss': losses.val, 'acc': accuracies.val, 'lr': lr})
            batches.stop_now = bool(stop)
            after_batch(position(i), bool(stop))
    if runtime.is_main and damage.epoch_note():
        print(damage.epoch_note(), file=sys.stderr, flush=True)
    if epoch_logger:
        epoch_logger.log({'epoch': epoch, 'loss': losses.avg, 'acc': accuracies.avg, 'lr': lr})
    if runtime.is_main:  # the epoch's line, as train.log has it
        print(f'train epoch {epoch}: loss {losses.avg:.4f}, acc {accuracies.avg:.3f}, '
              f'lr {lr:g}', flush=True)
    return losses.avg, len(data_loader)


def usable(inputs, damaged, damage, min_clips, runtime):
    """Report the damaged clips left out of a batch and say whether what is left is trained
    on: `min_clips` clips or more (batch norm cannot train on one clip where a feature map is
    1x1x1). Every rank trains on its batch or none does (DistributedDataParallel's backward
    waits for all ranks)."""
    damage.record(damaged)
    too_small = inputs is None or inputs.size(0) < min_clips
    n_unusable, n_damaged = all_reduce_sum([float(too_small), float(len(damaged))], runtime)
    damage.add(n_damaged)
    return n_unusable == 0


def gradient_norm(model, loss):
    """The norm of all gradients, as a 0-d tensor on the loss's device (not yet read)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=loss.device)
    return torch.nn.utils.get_total_norm(grads).to(loss.device)
