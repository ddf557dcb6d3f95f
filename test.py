"""The test pass: clip scores averaged per video, top classes written as JSON."""
import json
import sys

import torch
import torch.nn.functional as F

from distributed import gather_to_main
from engine import Batches
from utils import UserError, counted, write_text_atomically


@torch.no_grad()
def video_scores(data_loader, model, runtime, softmax=True, damage=None):
    """({video_id: (sum of clip scores, number of clips)}, in the order videos appear;
    {video_id: video folder} of the videos with damaged clips, which were left out)."""
    model.eval()
    scores, damaged_videos = {}, {}
    with Batches(data_loader, 'test', None, runtime) as batches:
        for _, (inputs, video_ids, damaged) in batches:
            if damage is not None:
                damage.record(damaged)
            damaged_videos.update((clip.video_id, clip.video_dir) for clip in damaged)
            if inputs is not None:
                with runtime.autocast():
                    outputs = model(runtime.to_device(inputs)).float()
                if softmax:
                    outputs = F.softmax(outputs, dim=1)
                for video_id, output in zip(video_ids, outputs.cpu()):
                    total, count = scores.get(video_id, (0, 0))
                    scores[video_id] = (total + output, count + 1)
    return scores, damaged_videos


def top_k(scores, class_names, k):
    """[{'label', 'score'}, ...] of the `k` highest of a score vector, highest first."""
    values, indices = scores.topk(k)
    return [{'label': class_names[j], 'score': float(v)}
            for v, j in zip(values.tolist(), indices.tolist())]


def top_classes(scores, class_names):
    """{video_id: [{'label', 'score'}, ...]}: the top min(10, classes) of the mean score."""
    return {video_id: top_k(total / count, class_names, min(10, total.numel()))
            for video_id, (total, count) in scores.items()}


def merge(parts):
    """Sum the per-video scores of several ranks."""
    merged = {}
    for part in parts:
        for video_id, (total, count) in part.items():
            before_total, before_count = merged.get(video_id, (0, 0))
            merged[video_id] = (before_total + total, before_count + count)
    return merged


def test(data_loader, model, class_names, path, runtime, softmax=True, damage=None):
    """Write the top classes of each video to the JSON file `path` (rank 0 gathers the
    other ranks' scores). `softmax`: average probabilities, not raw scores. A video whose
    clips are all damaged is left out, and named on the console and in `damage`'s log."""
    parts = gather_to_main(video_scores(data_loader, model, runtime, softmax, damage), runtime)
    if not runtime.is_main:
        return None
    scores = merge(part for part, _ in parts)
    diverged = sorted(video_id for video_id, (total, _) in scores.items()
                      if not torch.isfinite(total).all())
    if diverged:
        raise UserError(f'the test scores of {len(diverged)} videos (e.g. {diverged[0]}) are not '
                        f'finite: the model has diverged; {path} was not written')
    write_text_atomically(path, json.dumps({'results': top_classes(scores, class_names)},
                                           allow_nan=False))
    print(f'wrote the top classes of {counted(len(scores), "video")} to {path}')
    report_unread(parts, scores, path, damage)
    return path


def report_unread(parts, written, path, damage=None):
    """Name the videos (of every rank's damaged ones) whose clips were all damaged, which
    are not among the `written` ones: on the console and in `damage`'s log."""
    unread = {video_id: folder for _, damaged in parts for video_id, folder in damaged.items()
              if video_id not in written}
    for folder in unread.values():
        if damage is not None:
            damage.log(folder, '', f'no readable clip: left out of {path}')
    if unread:
        print(f'{len(unread)} videos had no readable clip and are not in {path}: '
              f'{", ".join(sorted(unread.values()))}', file=sys.stderr, flush=True)


# -- the 2020 release's --inference ----------------------------------------------------------

@torch.no_grad()
def clip_softmaxes(data_loader, model, runtime, damage=None):
    """([(video_id, [first, last + 1], softmax)] of every clip read, {video_id: video
    folder} of the videos with damaged clips, which were left out)."""
    model.eval()
    clips, damaged_videos = [], {}
    with Batches(data_loader, 'inference', None, runtime) as batches:
        for _, (inputs, targets, damaged) in batches:
            if damage is not None:
                damage.record(damaged)
            damaged_videos.update((clip.video_id, clip.video_dir) for clip in damaged)
            if inputs is None:
                continue
            with runtime.autocast():
                outputs = F.softmax(model(runtime.to_device(inputs)).float(), dim=1).cpu()
            video_ids, firsts, ends = targets
            clips.extend((video_id, [int(first), int(end)], output) for video_id, first, end,
                         output in zip(video_ids, firsts.tolist(), ends.tolist(), outputs))
    return clips, damaged_videos


def release_results(clips, class_names, k, average=True):
    """The 2020 release's result layout: per video the top `k` classes of the mean of its
    clips' softmaxes, or (`average` False) of every clip with its segment."""
    per_video = {}
    for video_id, segment, scores in clips:
        per_video.setdefault(video_id, []).append((segment, scores))
    if average:
        return {video_id: top_k(torch.stack([s for _, s in rows]).mean(0), class_names, k)
                for video_id, rows in per_video.items()}
    return {video_id: [{'segment': segment, 'result': top_k(s, class_names, k)}
                       for segment, s in rows] for video_id, rows in per_video.items()}


def release_inference(data_loader, model, class_names, path, runtime, k, average=True,
                      damage=None):
    """--inference under --recipe 2020: every window's softmax, written to `path` in the
    release's layout (rank 0 gathers the other ranks' clips and puts them back in the
    dataset's order). A video whose clips are all damaged is left out and named."""
    parts = gather_to_main(clip_softmaxes(data_loader, model, runtime, damage), runtime)
    if not runtime.is_main:
        return None
    order = {video_id: k for k, video_id in enumerate(data_loader.dataset.video_ids)}
    clips = sorted((clip for part, _ in parts for clip in part),
                   key=lambda clip: (order[clip[0]], clip[1][0]))
    if any(not torch.isfinite(scores).all() for _, _, scores in clips):
        raise UserError(f'some inference scores are not finite: the model has diverged; '
                        f'{path} was not written')
    results = release_results(clips, class_names, k, average)
    write_text_atomically(path, json.dumps({'results': results}, allow_nan=False))
    print(f'wrote the top {k} classes of {counted(len(results), "video")} to {path}')
    report_unread(parts, results, path, damage)
    return path
