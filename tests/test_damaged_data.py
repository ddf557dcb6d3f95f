"""Damaged frames met during a run: left out, reported, logged, bounded; and failures in the
training loop that leave a resumable checkpoint."""
import csv
import errno
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

import main as main_module
from models.checkpoint import load_checkpoint
from tests.conftest import ROOT, TINY, data_flags, read_log, run_cli, ucf_like

# Training videos have 10-12 frames and clips 8: frame 4 is in every training clip.
DAMAGE = {
    'truncated': lambda path: path.write_bytes(path.read_bytes()[:200]),
    'zero_bytes': lambda path: path.write_bytes(b''),
    'not_a_jpeg': lambda path: path.write_text('not an image'),
    'missing': lambda path: path.unlink(),
}


def frame(video_path, label, key, number=4):
    from datasets.names import frame_path
    return type(video_path)(frame_path(os.path.join(video_path, label, key), number))


def bad_rows(result):
    with open(result / 'bad_frames.log') as f:
        rows = list(csv.reader(f, delimiter='\t'))
    assert rows[0] == ['epoch', 'phase', 'video', 'frame', 'reason']
    return rows[1:]


@pytest.fixture
def data(tmp_path):
    import pathlib
    video_path, annotation_path = ucf_like(tmp_path / 'data')
    return pathlib.Path(video_path), annotation_path


def train(capsys, data, result, *extra):
    video_path, annotation_path = data
    return run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101'), *TINY,
                   '--result_path', result, '--checkpoint', 1, *extra)


@pytest.mark.slow
@pytest.mark.parametrize('path', [[], ['--fast_training_clips']])
def test_damaged_frames_of_every_kind_are_left_out_and_logged(tmp_path, capsys, data,
                                                               monkeypatch, path):
    video_path, _ = data
    keys = {'truncated': ('a', 'v000'), 'zero_bytes': ('a', 'v001'),
            'not_a_jpeg': ('b', 'v003'), 'missing': ('c', 'v006')}
    for kind, (label, key) in keys.items():
        DAMAGE[kind](frame(video_path, label, key))
    # A whole frame folder that disappears once the index is built.
    from recipes.cvpr2018 import RECIPE as cvpr2018
    build = cvpr2018.training_set

    def build_then_lose_a_folder(*args, **kwargs):
        dataset = build(*args, **kwargs)
        shutil.rmtree(video_path / 'b' / 'v004')
        return dataset

    monkeypatch.setattr(cvpr2018, 'training_set', build_then_lose_a_folder)
    result = tmp_path / 'r'
    code, err = train(capsys, data, result, '--n_epochs', 2, '--max_bad_clips', 5,
                      '--batch_size', 3, *path)  # 9 clips: no last batch dropped
    assert code == 0, err
    rows = bad_rows(result)
    # 5 of 9 training clips damaged in each epoch, each logged.
    assert sorted((r[0], r[1]) for r in rows) == [('1', 'train')] * 5 + [('2', 'train')] * 5
    reasons = {os.path.basename(r[2]): r[4] for r in rows}
    assert reasons['v000'].startswith('corrupt') and reasons['v001'].startswith('corrupt')
    assert reasons['v003'].startswith('corrupt') and reasons['v006'] == 'missing'
    assert reasons['v004'] == 'missing'
    assert all(r[3].endswith('image_00004.jpg') for r in rows
               if os.path.basename(r[2]) != 'v004')
    # One warning per video over the whole run; the epoch's count on the console.
    warnings = [line for line in err.splitlines() if line.startswith('warning: left out')]
    assert len(warnings) == 5 and 'image_00004.jpg is corrupt' in err
    assert 'epoch 1 (train): damaged clips left out: 5' in err
    assert 'epoch 2 (train): damaged clips left out: 5' in err
    # The logs keep their columns.
    assert read_log(result / 'train.log')[0] == ['epoch', 'loss', 'acc', 'lr']
    assert [r[0] for r in read_log(result / 'train.log')[1:]] == ['1', '2']
    assert load_checkpoint(str(result / 'save_2.pth'))['epoch'] == 3


@pytest.mark.parametrize('bound,stops', [('2', True), ('3', False), ('0.2', True),
                                         ('0.34', False), ('0', True)])
def test_the_bound_as_a_count_a_fraction_and_zero(tmp_path, capsys, data, bound, stops):
    video_path, _ = data
    for label, key in (('a', 'v000'), ('b', 'v003'), ('c', 'v006')):  # 3 of 9 clips
        DAMAGE['not_a_jpeg'](frame(video_path, label, key))
    result = tmp_path / 'r'
    code, err = train(capsys, data, result, '--n_epochs', 1, '--max_bad_clips', bound,
                      '--no_val')
    if not stops:
        assert code == 0, err
        return
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith('error: stopped during epoch 1: damaged clips in epoch 1 (train): ')
    assert f'more than --max_bad_clips {bound} allows' in last
    assert str(result / 'bad_frames.log') in last and 'most in ' in last
    assert f'--resume_path {result / "interrupted.pth"}' in last
    assert load_checkpoint(str(result / 'interrupted.pth'))['epoch'] == 1
    assert not (result / 'save_1.pth').exists()


@pytest.mark.slow
def test_a_run_stopped_for_damage_resumes_once_the_frames_are_fixed(tmp_path, capsys, data):
    video_path, _ = data
    damaged = frame(video_path, 'b', 'v004')
    good = damaged.read_bytes()
    result = tmp_path / 'r'
    code, err = train(capsys, data, result, '--n_epochs', 2)
    assert code == 0, err
    DAMAGE['truncated'](damaged)
    code, err = train(capsys, data, result, '--n_epochs', 4, '--resume_path',
                      result / 'save_2.pth', '--max_bad_clips', 0)
    assert code == 1 and 'stopped during epoch 3' in err
    assert load_checkpoint(str(result / 'interrupted.pth'))['epoch'] == 3
    damaged.write_bytes(good)
    code, err = train(capsys, data, result, '--n_epochs', 4, '--resume_path',
                      result / 'interrupted.pth', '--max_bad_clips', 0)
    assert code == 0, err
    assert [r[0] for r in read_log(result / 'train.log')[1:]] == ['1', '2', '3', '4']
    assert [r[1] for r in bad_rows(result)] == ['train']


def test_validation_leaves_damaged_clips_out_of_its_averages(tmp_path, capsys, data):
    video_path, _ = data
    # v009 has 20 frames, validation clips at 1, 7, 13, 19: frame 16 is in one of them.
    DAMAGE['zero_bytes'](frame(video_path, 'a', 'v009', 16))
    result = tmp_path / 'r'
    code, err = train(capsys, data, result, '--n_epochs', 1, '--max_bad_clips', 1)
    assert code == 0, err
    assert read_log(result / 'val.log')[0] == ['epoch', 'loss', 'acc']
    assert len(read_log(result / 'val.log')) == 2
    assert 'epoch 1 (val): damaged clips left out: 1' in err
    assert [r[:2] for r in bad_rows(result)] == [['1', 'val']]


def test_the_test_pass_scores_videos_from_their_readable_clips(tmp_path, capsys, data):
    video_path, _ = data
    DAMAGE['missing'](frame(video_path, 'a', 'v009', 20))  # one of its clips (20 frames: 3)
    for number in (1, 9, 17):  # every clip of v010 (23 frames: windows 1, 9, 17)
        DAMAGE['not_a_jpeg'](frame(video_path, 'b', 'v010', number))
    result = tmp_path / 'r'
    code, err = train(capsys, data, result, '--n_epochs', 1, '--no_val', '--test')
    assert code == 0, err
    results = json.loads((result / 'val.json').read_text())['results']
    assert sorted(results) == ['v009', 'v011']
    assert '1 videos had no readable clip and are not in' in err and 'v010' in err
    assert any(r[1] == 'test' and r[2].endswith('v010') and r[4].startswith('no readable clip')
               for r in bad_rows(result))


@pytest.mark.slow
@pytest.mark.parametrize('path', [[], ['--fast_training_clips']])
def test_loader_workers_report_the_same(tmp_path, capsys, data, path):
    video_path, _ = data
    DAMAGE['truncated'](frame(video_path, 'a', 'v000'))
    result = tmp_path / 'r'
    code, err = train(capsys, data, result, '--n_epochs', 1, '--no_val', '--n_threads', 2,
                      '--max_bad_clips', 1, *path)
    assert code == 0, err
    assert [r[:3] for r in bad_rows(result)] == [['1', 'train', str(video_path / 'a' /
                                                                     'v000')]]
    assert err.count('warning: left out a clip of') == 1


def test_a_failure_in_the_training_loop_leaves_a_resumable_checkpoint(tmp_path, capsys, data,
                                                                       monkeypatch):
    class Loss(torch.nn.CrossEntropyLoss):
        calls = 0

        def forward(self, outputs, targets):
            Loss.calls += 1
            if Loss.calls == 3:  # epoch 2, batch 1
                raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')
            return super().forward(outputs, targets)

    monkeypatch.setattr(main_module.nn, 'CrossEntropyLoss', Loss)
    result = tmp_path / 'r'
    code, err = train(capsys, data, result, '--n_epochs', 3, '--no_val', '--checkpoint', 5)
    assert code == 1 and 'Traceback' not in err
    assert err.strip().splitlines()[-1] == (
        f'error: stopped during epoch 2: OutOfMemoryError: CUDA out of memory. Tried to '
        f'allocate 2.00 GiB; wrote {result / "interrupted.pth"}; continue with --resume_path '
        f'{result / "interrupted.pth"} (or auto)')
    state = load_checkpoint(str(result / 'interrupted.pth'))
    assert state['epoch'] == 2 and state['progress'] == [2, 0, 0]  # before epoch 2's batch 1


@pytest.mark.slow
def test_a_full_disk_while_logging_leaves_a_resumable_checkpoint(tmp_path, capsys, data,
                                                                  monkeypatch):
    from utils import Logger
    log = Logger.log

    def full_disk(self, values):
        if values.get('epoch') == 2 and 'batch' in values:
            raise OSError(errno.ENOSPC, 'No space left on device')
        log(self, values)

    monkeypatch.setattr(Logger, 'log', full_disk)
    result = tmp_path / 'r'
    code, err = train(capsys, data, result, '--n_epochs', 3, '--no_val')
    assert code == 1
    assert 'stopped during epoch 2: OSError: [Errno 28] No space left on device' in err
    assert load_checkpoint(str(result / 'interrupted.pth'))['epoch'] == 2


@pytest.mark.slow
def test_two_processes_agree_to_stop(tmp_path, data):
    import socket
    video_path, annotation_path = data
    DAMAGE['not_a_jpeg'](frame(video_path, 'c', 'v007'))
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    result = tmp_path / 'r'
    command = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
               '--master_addr', '127.0.0.1', '--master_port', str(port), 'main.py',
               '--distributed', *map(str, data_flags(video_path, annotation_path, 'ucf101')),
               *map(str, TINY), '--batch_size', '2', '--result_path', str(result),
               '--n_epochs', '2', '--max_bad_clips', '0', '--no_val']
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert done.returncode != 0
    assert done.stderr.count('error: stopped during epoch 1: damaged clips') == 1
    assert load_checkpoint(str(result / 'interrupted.pth'))['epoch'] == 1
    assert [r[2] for r in bad_rows(result)] == [str(video_path / 'c' / 'v007')]
