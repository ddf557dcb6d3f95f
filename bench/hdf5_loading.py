"""HDF5 files against frame folders (--recipe 2020): training and validation clips per
second on one core, the tensors compared, and the time to index 20,000 videos.

    python bench/hdf5_loading.py [--videos 8] [--frames 90] [--rounds 5] [--index 20000]

Clips: `--videos` videos of real-looking footage at 320x240 as frame folders and as HDF5
files packed from the same JPEG files; the 2020 release's training clips (random resized
crop to 112, flip, values and mean) and validation clips (Resize, centre crop), 16 frames,
made by the dataset's __getitem__ in this process (the native core where it is built), in
interleaved rounds; medians. Index: an annotation of `--index` videos of 2 frames each, as
frame folders and as HDF5 files, the training set built from scratch (the HDF5 files read
for their frame counts), then again (their counts cached); the page cache dropped before
each where this process may (root), else warm.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.datagen import write_footage_frames  # noqa: E402
from utils_scripts.hdf5_files import write_video_hdf5  # noqa: E402


def make_set(folder, n_videos, n_frames, height=240):
    """Frame folders and HDF5 files of the same footage; annotations for each."""
    database, hdf5_database = {}, {}
    for i in range(n_videos):
        key, label = f'v{i}', 'ab'[i % 2]
        frames = os.path.join(folder, 'jpg', label, key)
        write_footage_frames(frames, n_frames, height=height)
        os.makedirs(os.path.join(folder, 'hdf5', label), exist_ok=True)
        write_video_hdf5(os.path.join(folder, 'hdf5', label, f'{key}.hdf5'),
                         {'video': [os.path.join(frames, f'image_{k:05d}.jpg')
                                    for k in range(1, n_frames + 1)]})
        database[key] = {'subset': 'training',
                         'annotations': {'label': label, 'segment': [1, n_frames + 1]}}
        hdf5_database[key] = {'subset': 'training',
                              'annotations': {'label': label, 'segment': [0, n_frames]}}
    paths = {}
    for name, db in (('jpg', database), ('hdf5', hdf5_database)):
        paths[name] = os.path.join(folder, f'{name}.json')
        with open(paths[name], 'w') as f:
            json.dump({'labels': ['a', 'b'], 'database': db}, f)
    return paths


def datasets(folder, paths, purpose):
    """The training set of each kind as main.py --recipe 2020 builds it (validation: with
    the validation transform, Resize and the centre crop)."""
    from opts import parse_opts
    from recipes import recipe_of
    made = {}
    for kind in ('jpg', 'hdf5'):
        opt = parse_opts(['--recipe', '2020', '--no_cuda', '--dataset', 'ucf101',
                          '--video_path', os.path.join(folder, kind), '--annotation_path',
                          paths[kind], '--file_type', kind, '--n_classes', '2'])
        recipe = recipe_of(opt)
        clips, source = recipe.clip_settings(opt), recipe.data_source(opt)
        if purpose == 'training':
            made[kind] = recipe.training_set(source, clips)
        else:
            from recipes.release2020 import evaluation_transform
            dataset = recipe.training_set(source, clips)
            dataset.spatial_transform = evaluation_transform(clips)
            made[kind] = dataset
    return made


def clips_per_second(dataset, seed, n):
    torch.manual_seed(seed)
    import random
    random.seed(seed)
    start = time.perf_counter()
    clips = [dataset[i % len(dataset)][0] for i in range(n)]
    return n / (time.perf_counter() - start), clips


def compare_clips(sets, rounds, n):
    """Median clips/s of each kind, interleaved rounds; whether every clip was equal."""
    rates = {kind: [] for kind in sets}
    equal = True
    for r in range(rounds):
        made = {}
        for kind in (('jpg', 'hdf5') if r % 2 == 0 else ('hdf5', 'jpg')):
            rate, made[kind] = clips_per_second(sets[kind], r, n)
            rates[kind].append(rate)
        equal &= all(torch.equal(a, b) for a, b in zip(made['jpg'], made['hdf5']))
    return {kind: statistics.median(v) for kind, v in rates.items()}, equal


def drop_page_cache():
    try:
        subprocess.run(['sync'], check=True)
        with open('/proc/sys/vm/drop_caches', 'w') as f:
            f.write('3\n')
        return True
    except OSError:
        return False


def index_times(folder, n_videos):
    """Seconds to build the training set of `n_videos` two-frame videos from each kind:
    (frame folders, HDF5 first time, HDF5 cached); whether the cache was dropped."""
    source = os.path.join(folder, 'one')
    write_footage_frames(source, 2, height=48)
    frames = [os.path.join(source, f'image_{k:05d}.jpg') for k in (1, 2)]
    write_video_hdf5(os.path.join(folder, 'one.hdf5'), {'video': frames})
    jpg_db, hdf5_db = {}, {}
    for i in range(n_videos):
        key, label = f'x{i:06d}', f'c{i % 400:03d}'
        target = os.path.join(folder, 'jpg', label, key)
        os.makedirs(target)
        for frame in frames:
            os.link(frame, os.path.join(target, os.path.basename(frame)))
        os.makedirs(os.path.join(folder, 'hdf5', label), exist_ok=True)
        shutil.copyfile(os.path.join(folder, 'one.hdf5'),
                        os.path.join(folder, 'hdf5', label, f'{key}.hdf5'))
        jpg_db[key] = {'subset': 'training', 'annotations': {'label': label, 'segment': [1, 3]}}
        hdf5_db[key] = {'subset': 'training', 'annotations': {'label': label, 'segment': [0, 2]}}
    labels = sorted({f'c{i % 400:03d}' for i in range(n_videos)})
    paths = {}
    for name, db in (('jpg', jpg_db), ('hdf5', hdf5_db)):
        paths[name] = os.path.join(folder, f'{name}.json')
        with open(paths[name], 'w') as f:
            json.dump({'labels': labels, 'database': db}, f)
    times, dropped = [], True
    for kind in ('jpg', 'hdf5', 'hdf5'):
        dropped &= drop_page_cache()
        start = time.perf_counter()
        datasets_of_kind(folder, paths, kind)
        times.append(time.perf_counter() - start)
    return times, dropped


def datasets_of_kind(folder, paths, kind):
    from datasets.factory import DataSource, make_dataset
    from recipes.release2020 import RECIPE, training_transforms
    from clip_settings import ClipSettings
    clips = ClipSettings(train_crop='random')
    source = DataSource('ucf101', os.path.join(folder, kind), paths[kind],
                        'hdf5' if kind == 'hdf5' else 'frames')
    return make_dataset(source, clips, 'training', 'training', 1, training_transforms(clips),
                        layout=RECIPE.layout('ucf101'))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--videos', type=int, default=8)
    parser.add_argument('--frames', type=int, default=90)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--clips', type=int, default=64, help='clips a round')
    parser.add_argument('--index', type=int, default=20000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    import native
    print(f'native core: {"built" if native.library() else "NOT built (Python path)"}')
    folder = tempfile.mkdtemp(prefix='hdf5_bench_')
    try:
        paths = make_set(folder, args.videos, args.frames)
        for purpose in ('training', 'validation'):
            rates, equal = compare_clips(datasets(folder, paths, purpose), args.rounds,
                                         args.clips)
            ratio = rates['hdf5'] / rates['jpg']
            print(f'{purpose} clips (112x112x16 from 320x240, one core): frame folders '
                  f'{rates["jpg"]:.1f}/s, HDF5 {rates["hdf5"]:.1f}/s (x{ratio:.2f}); tensors '
                  f'{"identical" if equal else "DIFFERENT"}', flush=True)
        index = os.path.join(folder, 'index')
        os.makedirs(index)
        (jpg, first, cached), dropped = index_times(index, args.index)
        print(f'index of {args.index} videos ({"page cache dropped" if dropped else "warm"}): '
              f'frame folders {jpg:.2f} s; HDF5 files {first:.2f} s the first time (each file '
              f'opened), {cached:.2f} s cached')
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == '__main__':
    main()
