"""Index cost at Kinetics scale: the compact index against a list of per-clip dicts.

    python bench/index.py [--videos 20000 250000] [--frames 300]

Generates Kinetics-layout trees (class folders of video folders holding only `n_frames`)
and builds training (1 sample per video), validation (3 clips per video) and test (16-frame
windows) indices both ways. Reports build time (warm file cache, best of 2), memory the
index retains (tracemalloc), and how much private memory a forked DataLoader-like worker
gains by reading every sample once (copy-on-write from Python reference counts).
"""
import argparse
import copy
import gc
import json
import math
import os
import shutil
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datasets import Kinetics  # noqa: E402
from datasets.names import kinetics_video_id  # noqa: E402

N_CLASSES = 400


def make_tree(root, n_videos, mean_frames):
    labels = [f'class_{c:03d}' for c in range(N_CLASSES)]
    database = {}
    for i in range(n_videos):
        label = labels[i % N_CLASSES]
        key = f'vid{i:08d}x_{i % 1000:06d}_{i % 1000 + 10:06d}'
        folder = os.path.join(root, 'jpg', label, key)
        os.makedirs(folder)
        with open(os.path.join(folder, 'n_frames'), 'w') as f:
            f.write(str(mean_frames - 50 + (i * 7919) % 101))
        database[key] = {'subset': 'training', 'annotations': {'label': label}}
    paths = {}
    for subset in ('training', 'validation'):
        for entry in database.values():
            entry['subset'] = subset
        paths[subset] = os.path.join(root, f'{subset}.json')
        with open(paths[subset], 'w') as f:
            json.dump({'labels': labels, 'database': database}, f)
    return os.path.join(root, 'jpg'), paths


def list_of_dicts(video_root, annotation_path, subset, n_samples, duration):
    """The per-clip dict index, one Python dict and frame list per sample."""
    with open(annotation_path) as f:
        data = json.load(f)
    class_to_idx = {name: i for i, name in enumerate(data['labels'])}
    dataset = []
    for key, value in data['database'].items():
        if value['subset'] != subset:
            continue
        label = value['annotations']['label']
        video_path = os.path.join(video_root, label, key)
        if not os.path.exists(video_path):
            continue
        with open(os.path.join(video_path, 'n_frames')) as f:
            n_frames = int(float(f.read()))
        if n_frames <= 0:
            continue
        sample = {'video': video_path, 'segment': [1, n_frames], 'n_frames': n_frames,
                  'video_id': kinetics_video_id(key), 'label': class_to_idx[label]}
        if n_samples == 1:
            sample['frame_indices'] = list(range(1, n_frames + 1))
            dataset.append(sample)
            continue
        step = (max(1, math.ceil((n_frames - 1 - duration) / (n_samples - 1)))
                if n_samples > 1 else duration)
        for j in range(1, n_frames, step):
            clip = copy.deepcopy(sample)
            clip['frame_indices'] = list(range(j, min(n_frames + 1, j + duration)))
            dataset.append(clip)
    return dataset


def compact(video_root, annotation_path, subset, n_samples, duration):
    return Kinetics(video_root, annotation_path, subset, n_samples, sample_duration=duration)


def touch_all(index):
    """What a worker does to the index over an epoch: read every sample's record."""
    if isinstance(index, list):
        for sample in index:
            sample['frame_indices'][0], sample['video'], sample['label']
    else:
        for i in range(len(index)):
            index.target_record(i)


def private_dirty_kb():
    with open('/proc/self/smaps_rollup') as f:
        for line in f:
            if line.startswith('Private_Dirty:'):
                return int(line.split()[1])
    return 0


def worker_growth_mb(index):
    """Private memory a forked worker gains by reading the whole index once."""
    gc.freeze()  # keep the collector's own bookkeeping out of the measurement
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        before = private_dirty_kb()
        touch_all(index)
        os.write(write_fd, str(private_dirty_kb() - before).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    growth = int(os.read(read_fd, 64)) / 1024
    os.close(read_fd)
    os.close(write_fd)
    gc.unfreeze()
    return growth


def measure(build, *args):
    times = []
    for _ in range(2):
        gc.collect()
        start = time.perf_counter()
        index = build(*args)
        times.append(time.perf_counter() - start)
        del index
    gc.collect()
    tracemalloc.start()
    index = build(*args)
    retained = tracemalloc.get_traced_memory()[0] / 2 ** 20
    tracemalloc.stop()
    return min(times), retained, worker_growth_mb(index), len(index)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--videos', type=int, nargs='+', default=[20000, 250000])
    parser.add_argument('--frames', type=int, default=300, help='mean frames per video')
    args = parser.parse_args()
    print(f'{"videos":>7} {"index":10} {"way":14} {"samples":>8} {"build s":>8} '
          f'{"memory MB":>10} {"B/video":>8} {"worker +MB":>10}')
    for n_videos in args.videos:
        root = tempfile.mkdtemp(prefix='bench_index_')
        try:
            video_root, paths = make_tree(root, n_videos, args.frames)
            for name, subset, n_samples in (('train', 'training', 1),
                                            ('val (3)', 'validation', 3),
                                            ('test', 'validation', 0)):
                rows = {}
                for way, build in (('list of dicts', list_of_dicts), ('compact', compact)):
                    rows[way] = measure(build, video_root, paths[subset], subset, n_samples, 16)
                    t, mem, growth, n = rows[way]
                    print(f'{n_videos:7d} {name:10} {way:14} {n:8d} {t:8.2f} {mem:10.1f} '
                          f'{mem * 2 ** 20 / n_videos:8.0f} {growth:10.1f}', flush=True)
                (t0, m0, _, _), (t1, m1, _, _) = rows['list of dicts'], rows['compact']
                print(f'{"":7} {name:10} {"ratio":14} {"":8} {t1 / t0:8.2f} {m1 / m0:10.3f}')
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    main()
