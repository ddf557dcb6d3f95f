"""inference.py's pass: every clip of the videos to do through the model, each video's outputs
written as soon as its last clip is scored, with progress per video."""
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from datasets.clip_stream import ClipStream, collate
from engine import Batches
from inference_results import save_features, write_part
from loaders import seed_worker, workers
from utils import bar_fits, printable


@dataclass(frozen=True)
class Job:
    """What the pass does, decided from inference.py's options and the recipe."""
    output: str  # the folder
    mode: str  # 'score' or 'feature'
    top_k: int  # classes a video's result lists
    transform: object  # the recipe's spatial transform of a clip
    windows: Callable  # the recipe's (n_frames, duration, stride) -> [(first, last)]
    duration: int
    stride: int
    fps: float | None  # resample to this rate first
    batch_size: int
    n_threads: int
    flow: bool = False  # HDF5 files' flow frames (the 2020 release's --input_type flow)


def process(sources, todo, model, class_names, settings, job, runtime):
    """Run the model over every clip of the videos `todo` (indices into sources), writing
    each video's outputs as soon as its last clip is scored; returns the failed paths."""
    stream = ClipStream(sources, job.transform, job.duration, job.stride, job.fps, todo,
                        windows=job.windows, flow=job.flow)
    loader = DataLoader(stream, batch_size=job.batch_size, num_workers=workers(job.n_threads),
                        collate_fn=collate, pin_memory=runtime.uses_cuda,
                        worker_init_fn=seed_worker)
    progress = VideoProgress(len(todo), runtime.is_main)
    rows = {}  # video -> {clip index: output row}
    failed = []
    with torch.no_grad():
        with Batches(loader, 'inference', None, runtime, check_stop=False,
                     progress=progress) as batches:
            for _, (clips, items, errors) in batches:
                if clips is not None:
                    with runtime.autocast():
                        outputs = model(runtime.to_device(clips)).float()
                    if job.mode == 'score':
                        outputs = F.softmax(outputs, dim=1)
                    for item, output in zip(items, outputs.cpu()):
                        rows.setdefault(item.video, {})[item.index] = (item, output)
                        if len(rows[item.video]) == item.n_clips:
                            source = sources[item.video]
                            part = finish_video(source, rows.pop(item.video), class_names, job)
                            write_part(job.output, source, part, settings)
                            progress.done(source, part, item.n_clips)
                for error in errors:
                    rows.pop(error.video, None)
                    failed.append(sources[error.video].path)
                    progress.failed(error.error)
    return failed


def finish_video(source, rows, class_names, job):
    """A video's part of the outputs from its clips' rows (in clip order)."""
    ordered = [rows[k] for k in range(len(rows))]
    segments = [[item.first, item.last] for item, _ in ordered]
    outputs = torch.stack([output for _, output in ordered])
    if job.mode == 'feature':
        file = save_features(job.output, source, outputs.numpy().astype(np.float32))
        return {'file': file, 'segments': segments, 'fps': ordered[0][0].fps}
    total = 0  # summed in clip order, as main.py's test pass sums
    for output in outputs:
        total = total + output
    mean = total / len(outputs)
    values, indices = mean.topk(min(job.top_k, mean.numel()))
    top = [{'label': class_names[j], 'score': float(v)}
           for v, j in zip(values.tolist(), indices.tolist())]
    best_scores, best = outputs.max(1)
    clips = [{'segment': segment, 'label': class_names[j], 'score': float(v)}
             for segment, v, j in zip(segments, best_scores.tolist(), best.tolist())]
    return {'results': top, 'clips': clips}


class VideoProgress:
    """A bar over videos with clips/s on a terminal, a line per video otherwise."""

    def __init__(self, n_videos, enabled):
        self.enabled, self.n_videos, self.count, self.clips = enabled, n_videos, 0, 0
        self.start = time.perf_counter()
        self.bar = None
        if enabled and bar_fits():
            from tqdm import tqdm
            self.bar = tqdm(total=n_videos, unit='video', dynamic_ncols=True)

    def done(self, source, part, n_clips):
        self.count += 1
        self.clips += n_clips
        if not self.enabled:
            return
        rate = self.clips / max(time.perf_counter() - self.start, 1e-9)
        if self.bar is not None:
            self.bar.set_postfix_str(f'{rate:.1f} clips/s', refresh=False)
            self.bar.update(1)
            return
        what = (f'{part["results"][0]["label"]} ({part["results"][0]["score"]:.3f})'
                if 'results' in part else f'{n_clips} feature rows')
        print(f'[{self.count}/{self.n_videos}] {printable(source.name)}: {what}  '
              f'[{n_clips} clips, {rate:.1f} clips/s]', flush=True)

    def update(self, *batch_timings):
        """Called after each batch: the lines come per video instead."""

    def failed(self, message):
        """Said by every rank: the line names the video."""
        self.count += 1
        if self.bar is None:
            print(f'failed: {printable(message)}', file=sys.stderr, flush=True)
            return
        self.bar.write(f'failed: {printable(message)}', file=sys.stderr)
        self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()
