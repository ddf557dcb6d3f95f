"""`--resume_path auto`: the checkpoint of the result folder that holds the run's latest
state (save_N.pth, interrupted.pth, latest.pth), or none: a fresh start.

Checkpoints are ordered by where in the run they were written (`progress`: the epoch, whether
its training is done, the batches of it trained), not by their names or times. A newest file
that does not load (truncated, damaged, another model or recipe) is named and passed over
for the one before it. Under torchrun rank 0 decides and the others take its decision.
"""
import glob
import os
import re

from models.checkpoint import load_checkpoint
from utils import UserError

AUTO = 'auto'
PERIODIC = re.compile(r'save_(\d+)\.pth$')
STATE_FILES = ('interrupted.pth', 'latest.pth')


def progress_of(checkpoint, path):
    """(epoch, stage, batch): the epoch the checkpoint continues in, 0 while its training
    pass runs (1 once it is done, validation next), the training batches of it done."""
    if isinstance(checkpoint.get('progress'), (list, tuple)) and \
            len(checkpoint['progress']) == 3:
        return tuple(int(x) for x in checkpoint['progress'])
    match = PERIODIC.search(os.path.basename(path))
    if match:  # (one written before checkpoints said where they are)
        return int(match.group(1)) + 1, 0, 0
    trained = checkpoint.get('trained')
    return (trained + 1, 0, 0) if isinstance(trained, int) else (0, 0, 0)


def candidates(result_path):
    """The checkpoint files of a result folder, the periodic ones newest first."""
    periodic = sorted(glob.glob(os.path.join(result_path, 'save_*.pth')),
                      key=lambda p: -int(PERIODIC.search(p).group(1))
                      if PERIODIC.search(p) else 0)
    return [os.path.join(result_path, name) for name in STATE_FILES
            if os.path.isfile(os.path.join(result_path, name))] + \
        [p for p in periodic if PERIODIC.search(os.path.basename(p))]


def choose(result_path, arch, recipe_name, say=print):
    """(path, checkpoint) of the latest state in `result_path` that loads and is of this
    run's network (`arch`) and recipe, or (None, None); each file passed over is said."""
    found = []
    for path in candidates(result_path):
        try:
            checkpoint = load_checkpoint(path)
        except UserError as e:
            say(f'--resume_path auto: passed over {path}: {e}')
            continue
        why = mismatch(checkpoint, arch, recipe_name)
        if why:
            say(f'--resume_path auto: passed over {path}: {why}')
            continue
        found.append((progress_of(checkpoint, path), path, checkpoint))
        periodic = [f for f in found if PERIODIC.search(os.path.basename(f[1]))]
        if periodic:  # the newest periodic one loads: earlier ones cannot be later
            break
    if not found:
        return None, None
    _, path, checkpoint = max(found, key=lambda f: f[0])
    return path, checkpoint


def mismatch(checkpoint, arch, recipe_name):
    """Why a checkpoint of the folder is not this run's, or None."""
    if checkpoint.get('arch') and checkpoint['arch'] != arch:
        return f'it holds {checkpoint["arch"]}, this run trains {arch}'
    recorded = (checkpoint.get('settings') or {}).get('recipe')
    if recorded and recipe_name and recorded != recipe_name:
        return f'it was trained under --recipe {recorded}, this run is --recipe {recipe_name}'
    return None


def decision_line(result_path, path, checkpoint):
    if path is None:
        return f'--resume_path auto: no checkpoint in {result_path}: starting afresh'
    epoch, stage, batch = progress_of(checkpoint, path)
    where = (f'epoch {epoch}, after batch {batch}' if batch else
             f'the validation of epoch {epoch}' if stage else f'epoch {epoch}')
    return f'--resume_path auto: continuing from {path} (at {where})'
