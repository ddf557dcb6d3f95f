"""The test pass: clip scores averaged per video, top classes written as JSON."""
import json
import time

import torch
import torch.nn.functional as F

from distributed import gather_to_main
from utils import STOP, AverageMeter, Progress, write_text_atomically


@torch.no_grad()
def video_scores(data_loader, model, runtime, softmax=True):
    """{video_id: (sum of clip scores, number of clips)}, in the order videos appear."""
    model.eval()
    scores = {}
    batch_time, data_time = AverageMeter(), AverageMeter()
    progress = Progress('test', len(data_loader), 'test', enabled=runtime.is_main)
    end = time.perf_counter()
    for i, (inputs, video_ids) in enumerate(data_loader, 1):
        data_time.update(time.perf_counter() - end)
        with runtime.autocast():
            outputs = model(runtime.to_device(inputs)).float()
        if softmax:
            outputs = F.softmax(outputs, dim=1)
        for video_id, output in zip(video_ids, outputs.cpu()):
            total, count = scores.get(video_id, (0, 0))
            scores[video_id] = (total + output, count + 1)
        batch_time.update(time.perf_counter() - end)
        progress.update(i, batch_time, data_time)
        STOP.check()
        end = time.perf_counter()
    progress.close()
    return scores


def top_classes(scores, class_names):
    """{video_id: [{'label', 'score'}, ...]}: the top min(10, classes) of the mean score."""
    results = {}
    for video_id, (total, count) in scores.items():
        mean = total / count
        k = min(10, mean.numel())
        values, indices = mean.topk(k)
        results[video_id] = [{'label': class_names[j], 'score': float(v)}
                             for v, j in zip(values.tolist(), indices.tolist())]
    return results


def merge(parts):
    """Sum the per-video scores of several ranks."""
    merged = {}
    for part in parts:
        for video_id, (total, count) in part.items():
            before_total, before_count = merged.get(video_id, (0, 0))
            merged[video_id] = (before_total + total, before_count + count)
    return merged


def test(data_loader, model, class_names, path, runtime, softmax=True):
    """Write the top classes of each video to the JSON file `path` (rank 0 gathers the
    other ranks' scores). `softmax`: average probabilities, not raw scores."""
    parts = gather_to_main(video_scores(data_loader, model, runtime, softmax), runtime)
    if not runtime.is_main:
        return None
    scores = merge(parts)
    write_text_atomically(path, json.dumps({'results': top_classes(scores, class_names)}))
    print(f'wrote the top classes of {len(scores)} videos to {path}')
    return path
