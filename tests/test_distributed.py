"""--distributed under torchrun (2 processes, gloo on the CPU), --amp and --channels_last."""
import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from models.checkpoint import load_checkpoint
from tests.conftest import ROOT
from tests.test_engine import data_flags, read_log, run_main, ucf_like

SMALL = ['--no_cuda', '--sample_size', 32, '--sample_duration', 8, '--batch_size', 2,
         '--n_threads', 0, '--model_depth', 10, '--resnet_shortcut', 'A']


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def torchrun(*flags):
    command = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
               '--master_addr', '127.0.0.1', '--master_port', str(free_port()), 'main.py',
               '--distributed', *map(str, flags)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_two_process_training_matches_single_process_evaluation(tmp_path):
    video_path, annotation_path = ucf_like(tmp_path, train=3, val=2)  # 9 training clips
    flags = [*data_flags(video_path, annotation_path, 'ucf101'), *SMALL]
    single = tmp_path / 'single'
    run_main(*flags, '--result_path', single, '--n_epochs', 1)  # 4 batches (last 1 dropped)
    assert len(read_log(single / 'train_batch.log')) - 1 == 4

    # Distributed training resumes from the single-process checkpoint.
    ddp = tmp_path / 'ddp'
    out = torchrun(*flags, '--result_path', ddp, '--n_epochs', 3, '--resume_path',
                   single / 'save_1.pth')
    # 9 clips -> 5 per rank -> 2 batches each (the last of 1 dropped): half of 4.
    assert 'epoch 2: 2 ranks trained 2, 2 batches and hold identical weights' in out
    assert 'epoch 3: 2 ranks trained 2, 2 batches and hold identical weights' in out
    # Only rank 0 wrote: one header, each row once.
    assert [r[0] for r in read_log(ddp / 'train.log')] == ['epoch', '2', '3']
    assert [r[:2] for r in read_log(ddp / 'train_batch.log')[1:]] == [
        ['2', '1'], ['2', '2'], ['3', '1'], ['3', '2']]
    assert sorted(os.listdir(ddp)) == ['opts.json', 'save_3.pth', 'train.log',
                                       'train_batch.log', 'val.log']
    assert load_checkpoint(str(ddp / 'save_3.pth'))['epoch'] == 4

    # The same checkpoint evaluated by 2 processes and by 1 gives the same files.
    evaluate = [*flags, '--no_train', '--test', '--n_epochs', 4, '--resume_path',
                ddp / 'save_3.pth']
    torchrun(*evaluate, '--result_path', tmp_path / 'eval_ddp', '--batch_size', 3)
    run_main(*evaluate, '--result_path', tmp_path / 'eval_single')
    (a,), (b,) = [read_log(tmp_path / d / 'val.log')[1:] for d in ('eval_ddp', 'eval_single')]
    assert a[0] == b[0] == '4'
    assert [float(x) for x in a[1:]] == pytest.approx([float(x) for x in b[1:]], rel=1e-5)
    ra, rb = [json.loads((tmp_path / d / 'val.json').read_text())['results']
              for d in ('eval_ddp', 'eval_single')]
    assert sorted(ra) == sorted(rb) and len(ra) == 6
    for video in ra:
        assert [t['label'] for t in ra[video]] == [t['label'] for t in rb[video]]
        assert [t['score'] for t in ra[video]] == pytest.approx(
            [t['score'] for t in rb[video]], abs=1e-5)


def test_distributed_outside_torchrun_is_a_clear_error(tmp_path, capsys):
    video_path, annotation_path = ucf_like(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ('RANK', 'WORLD_SIZE')}
    done = subprocess.run([sys.executable, 'main.py', '--distributed', *map(str, data_flags(
        video_path, annotation_path, 'ucf101')), '--no_cuda', '--result_path',
        str(tmp_path / 'r')], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and 'runs under torchrun' in done.stderr
    assert 'Traceback' not in done.stderr


@pytest.mark.parametrize('flag', ['--amp', '--channels_last'])
def test_amp_and_channels_last_train(tmp_path, flag):
    video_path, annotation_path = ucf_like(tmp_path)
    result = tmp_path / 'r'
    run_main(*data_flags(video_path, annotation_path, 'ucf101'), *SMALL, '--batch_size', 4,
             '--result_path', result, '--n_epochs', 2, '--learning_rate', 0.01, flag, '--test')
    losses = [float(r[1]) for r in read_log(result / 'train.log')[1:]]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    options = json.loads((result / 'opts.json').read_text())
    assert options['amp_dtype'] == ('bfloat16' if flag == '--amp' else 'float32')
    assert 'scaler' in load_checkpoint(str(result / 'save_2.pth'))
    assert json.loads((result / 'val.json').read_text())['results']


def test_autocast_runs_the_model_in_bfloat16_on_the_cpu(make_opt):
    from models import generate_model
    from utils import autocast
    opt = make_opt('--amp', '--sample_size', 32, '--sample_duration', 8, '--n_classes', 3)
    opt.amp_dtype = 'bfloat16'
    model, _ = generate_model(opt)
    with autocast(opt, torch.device('cpu')):
        out = model(torch.randn(2, 3, 8, 32, 32))
    assert out.dtype == torch.bfloat16
