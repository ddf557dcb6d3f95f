"""The demo's video generator, the curve plotter and the whole `make demo` path in miniature."""
import csv
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT
from utils_scripts import make_demo_videos as demo_videos
from utils_scripts import run_demo
from utils_scripts.plot_curves import read_log

needs_ffmpeg = pytest.mark.skipif(shutil.which('ffmpeg') is None, reason='needs ffmpeg')


def shape_mask(frames, background):
    """Pixels where the drawn shape differs from the (tinted, flickering) background."""
    return np.abs(frames.astype(np.float32) - background).max(axis=-1) > 40


def test_every_motion_moves_its_shape_and_still_does_not():
    background = demo_videos.textures(np.random.default_rng(0), n=1)[0]
    for motions in demo_videos.CLASS_SETS.values():
        for motion in motions:
            frames = demo_videos.render(motion, np.random.default_rng(1), background)
            assert frames.shape == (demo_videos.FRAMES, demo_videos.SIZE, demo_videos.SIZE, 3)
            masks = shape_mask(frames, background)
            assert all(m.sum() > 100 for m in masks), motion.__name__  # a shape in every frame
            changed = (masks[0] != masks[demo_videos.FRAMES // 2]).sum()
            if motion is demo_videos.still:
                assert changed == 0
            else:
                assert changed > 50, motion.__name__


def test_no_frame_tells_the_class():
    """Every class shows the same pose of the same shape at the middle frame (drawn from the
    same random size, angle, place and colour for all): only the motion around it differs."""
    background = demo_videos.textures(np.random.default_rng(0), n=1)[0]
    middles = {}
    for motions in demo_videos.CLASS_SETS.values():
        for motion in motions:
            frames = demo_videos.render(motion, np.random.default_rng(3), background)
            middles[motion.__name__] = shape_mask(frames[demo_videos.FRAMES // 2], background)
    first = middles.pop('grow')
    assert first.sum() > 100
    for name, mask in middles.items():
        assert (mask != first).sum() == 0, name


@pytest.mark.slow
@needs_ffmpeg
def test_generator_writes_mp4s_and_disjoint_splits(tmp_path):
    demo_videos.main([str(tmp_path), '--classes', 'finetune', '--per_class', '2',
                      '--held_out', '1'])
    rows = {}
    for split in ('train', 'val', 'test'):
        with open(tmp_path / f'{split}.csv', newline='') as f:
            rows[split] = list(csv.DictReader(f))
    assert [len(rows[s]) for s in ('train', 'val', 'test')] == [8, 4, 4]
    ids = [r['youtube_id'] for split in rows.values() for r in split]
    assert len(set(ids)) == len(ids) == 16
    assert {r['label'] for r in rows['test']} == {'orbit', 'diagonal', 'shake', 'still'}
    videos = sorted((tmp_path / 'videos').rglob('*.mp4'))
    assert len(videos) == 16
    probe = subprocess.run(['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-count_frames',
                            '-show_entries', 'stream=width,height,nb_read_frames,codec_name',
                            '-of', 'csv=p=0', str(videos[0])],
                           capture_output=True, text=True, check=True)
    size, frames = demo_videos.SIZE, demo_videos.FRAMES
    assert probe.stdout.strip() == f'h264,{size},{size},{frames}'


def test_read_log_keeps_the_last_row_of_a_repeated_epoch(tmp_path):
    log = tmp_path / 'val.log'
    log.write_text('epoch\tloss\tacc\n1\t2.0\t0.1\n2\t1.5\t0.3\n2\t1.4\t0.4\n3\t1.0\t0.6\n')
    assert read_log(str(log)) == {'epoch': [1, 2, 3], 'loss': [2.0, 1.4, 1.0],
                                  'acc': [0.1, 0.4, 0.6]}
    assert read_log(str(tmp_path / 'missing.log')) is None


def test_plot_curves_without_logs_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, os.path.join(ROOT, 'utils_scripts', 'plot_curves.py'),
                           str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip() == f'error: no train.log or val.log in {tmp_path}'


@pytest.mark.slow
@needs_ffmpeg
def test_the_demo_path_end_to_end_in_miniature(tmp_path):
    """run_demo.py with two training videos a class and one epoch: every documented step
    runs, in order, and both evaluations print their accuracy line."""
    out = tmp_path / 'demo'
    out.mkdir()
    (out / run_demo.MARKER).touch()  # a previous demo's folder, replaced
    (out / 'stale.txt').touch()
    done = subprocess.run([sys.executable, 'utils_scripts/run_demo.py', '--out', str(out),
                           '--per_class', '2', '--finetune_per_class', '2', '--held_out', '1',
                           '--epochs', '1', '--finetune_epochs', '1'],
                          cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f'replacing the previous demo in {out}' in done.stdout
    assert not (out / 'stale.txt').exists() and (out / run_demo.MARKER).exists()
    steps = [line.split()[2] for line in done.stdout.splitlines() if line.startswith('$ python')]
    prepare = ['utils_scripts/make_demo_videos.py', 'utils_scripts/video_jpg_kinetics.py',
               'utils_scripts/n_frames_kinetics.py', 'utils_scripts/kinetics_json.py',
               'utils_scripts/kinetics_json.py']
    run = ['main.py', 'main.py', 'utils_scripts/plot_curves.py', 'utils_scripts/eval_kinetics.py']
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        run.remove('utils_scripts/plot_curves.py')
    assert steps == (prepare + run) * 2 + ['inference.py']
    assert '--pretrain_path' in done.stdout and '--ft_begin_index 4' in done.stdout
    assert done.stdout.count('top-1 video accuracy:') >= 2
    assert 'Six actions, trained from scratch, on held-out videos: top-1 video accuracy:' \
        in done.stdout
    for part, n_videos in (('actions', 6), ('new_actions', 4)):
        assert (out / part / 'results' / 'save_1.pth').exists()
        results = (out / part / 'test_results' / 'val.json').read_text()
        assert results.count('"label"') >= n_videos
    # inference.py on one raw held-out .mp4 of each new action, each verdict printed
    verdicts = done.stdout.split('Raw held-out videos, classified by inference.py:')[1]
    verdicts = [line for line in verdicts.splitlines() if line.startswith('  ')]
    assert len(verdicts) == 4 and all(('(right)' in v) != ('(wrong, it is' in v)
                                      for v in verdicts)


def test_the_demo_never_overwrites_a_folder_it_did_not_make(tmp_path):
    (tmp_path / 'mine.txt').write_text('precious')
    done = subprocess.run([sys.executable, 'utils_scripts/run_demo.py', '--out', str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == (f'error: {tmp_path} is not empty and was not made by the '
                                   f'demo; pass another --out')
    assert [p.name for p in tmp_path.iterdir()] == ['mine.txt']
