"""A run that resumes itself: --resume_path auto, mid-epoch checkpoints (interrupted.pth after
a stop, latest.pth every --checkpoint_every_steps batches) that continue at the next unseen
batch exactly, SIGTERM and SIGUSR1, and logs without duplicate rows."""
import os
import signal

import pytest
import torch

import main as main_module
from models.checkpoint import load_checkpoint
from resume_auto import choose, progress_of
from tests.conftest import TINY, data_flags, read_log, run_cli, ucf_like
from tests.test_reliability import loss_poisoned_at
from utils import STOPPED_RESUMABLE


def weights(path):
    return load_checkpoint(str(path))['state_dict']


def same_weights(a, b, tol=0.0):
    return a.keys() == b.keys() and all(
        torch.allclose(a[k].float(), b[k].float(), atol=tol, rtol=0) for k in a)


@pytest.fixture
def ucf(tmp_path):
    video_path, annotation_path = ucf_like(tmp_path, train=4)  # 12 clips: 3 batches of 4
    # (a ResNet-10 a quarter as wide: small checkpoints, written at every step here)
    return [*data_flags(video_path, annotation_path, 'ucf101'), *TINY, '--checkpoint', 1,
            '--recipe', '2020', '--resnet_widen_factor', 0.25]


def signal_at(calls, sig=signal.SIGTERM):
    def send(loss):
        os.kill(os.getpid(), sig)
        return loss
    return loss_poisoned_at(calls, send)


@pytest.mark.slow
@pytest.mark.parametrize('threads', [0, 2])
def test_a_run_stopped_mid_epoch_resumes_at_the_next_batch_exactly(tmp_path, capsys,
                                                                    monkeypatch, ucf, threads):
    """Stopped after batch 2 of epoch 2 (SIGUSR1, as SLURM sends it), resumed with
    --resume_path auto: the final weights and every log row equal an unstopped run's, the
    clips made by 2 loader processes whose random states the checkpoint keeps."""
    flags = [*ucf, '--n_epochs', 3, '--no_val', '--n_threads', threads]
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    assert run_cli(capsys, *flags, '--result_path', straight)[0] == 0
    monkeypatch.setattr(main_module.nn, 'CrossEntropyLoss', signal_at({5}, signal.SIGUSR1))
    code, err = run_cli(capsys, *flags, '--result_path', split)
    assert code == STOPPED_RESUMABLE, err
    state = load_checkpoint(str(split / 'interrupted.pth'))
    assert state['progress'] == [2, 0, 2] and len(state['loader']) == 1
    monkeypatch.undo()
    code, err = run_cli(capsys, *flags, '--result_path', split, '--resume_path', 'auto')
    assert code == 0, err
    assert f'continuing from {split / "interrupted.pth"} (at epoch 2, after batch 2)' in err
    assert same_weights(weights(straight / 'save_3.pth'), weights(split / 'save_3.pth'))
    for log in ('train.log', 'train_batch.log'):
        a, b = read_log(straight / log), read_log(split / log)
        assert [r[:2] for r in a] == [r[:2] for r in b], log  # each row once
        assert [float(x) for r in a[1:] for x in r] == pytest.approx(
            [float(x) for r in b[1:] for x in r], abs=1e-6), log
    assert not (split / 'interrupted.pth').exists()  # save_2.pth... save_3.pth are later


@pytest.mark.slow
def test_latest_pth_is_written_every_n_steps_and_auto_takes_it(tmp_path, capsys, monkeypatch,
                                                                ucf):
    """A run that dies (a failure that writes nothing: SIGKILL's stand-in) after latest.pth
    resumes from it; the folder's save_1.pth stays as it was."""
    flags = [*ucf, '--n_epochs', 2, '--no_val', '--checkpoint_every_steps', 2]
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    assert run_cli(capsys, *flags, '--result_path', straight)[0] == 0
    assert not (straight / 'latest.pth').exists()  # removed by the epochs' saves

    def die(loss):  # nothing written on the way out
        raise SystemExit(137)
    monkeypatch.setattr(main_module.nn, 'CrossEntropyLoss', loss_poisoned_at({6}, die))
    with pytest.raises(SystemExit):
        main_module.main([str(f) for f in [*flags, '--result_path', split]])
    assert progress_of(load_checkpoint(str(split / 'latest.pth')), 'latest.pth') == (2, 0, 2)
    first = (split / 'save_1.pth').read_bytes()
    monkeypatch.undo()
    code, err = run_cli(capsys, *flags, '--result_path', split, '--resume_path', 'auto')
    assert code == 0, err
    assert (split / 'save_1.pth').read_bytes() == first
    assert same_weights(weights(straight / 'save_2.pth'), weights(split / 'save_2.pth'))
    assert [r[:2] for r in read_log(straight / 'train_batch.log')] == \
        [r[:2] for r in read_log(split / 'train_batch.log')]


def test_auto_on_an_empty_folder_starts_afresh(tmp_path, capsys, ucf):
    code, err = run_cli(capsys, *ucf, '--n_epochs', 1, '--no_val', '--result_path',
                        tmp_path / 'r', '--resume_path', 'auto')
    assert code == 0, err
    assert 'no checkpoint in' in err and 'starting afresh' in err
    assert (tmp_path / 'r' / 'save_1.pth').exists()


def test_auto_passes_over_a_truncated_newest_checkpoint_saying_so(tmp_path, capsys, ucf):
    result = tmp_path / 'r'
    assert run_cli(capsys, *ucf, '--n_epochs', 2, '--no_val', '--result_path', result)[0] == 0
    newest = result / 'save_2.pth'
    newest.write_bytes(newest.read_bytes()[:5000])
    said = []
    path, checkpoint = choose(str(result), 'resnet-10', None, said.append)
    assert path == str(result / 'save_1.pth') and progress_of(checkpoint, path) == (2, 0, 0)
    assert len(said) == 1 and 'save_2.pth' in said[0] and 'passed over' in said[0]


def test_auto_passes_over_another_model_s_checkpoint(tmp_path, capsys, ucf):
    result = tmp_path / 'r'
    assert run_cli(capsys, *ucf, '--n_epochs', 1, '--no_val', '--result_path', result)[0] == 0
    said = []
    assert choose(str(result), 'resnet-18', None, said.append) == (None, None)
    assert 'resnet-10' in said[0] and 'resnet-18' in said[0]


def test_a_stop_during_validation_is_later_than_the_epoch_before_and_earlier_than_its_save():
    assert progress_of({'progress': [3, 1, 0]}, 'interrupted.pth') > \
        progress_of({}, 'save_2.pth') == (3, 0, 0)
    assert progress_of({'progress': [3, 0, 5]}, 'latest.pth') < \
        progress_of({'progress': [3, 1, 0]}, 'interrupted.pth') < progress_of({}, 'save_3.pth')


@pytest.mark.slow
def test_the_same_command_resubmitted_continues(tmp_path, capsys, monkeypatch, ucf):
    """SIGTERM in epoch 1, then the same command twice: the first continues and finishes,
    the second finds the run done and trains no more."""
    flags = [*ucf, '--n_epochs', 2, '--no_val', '--result_path', tmp_path / 'r',
             '--resume_path', 'auto']
    monkeypatch.setattr(main_module.nn, 'CrossEntropyLoss', signal_at({2}))
    assert run_cli(capsys, *flags)[0] == STOPPED_RESUMABLE
    monkeypatch.undo()
    assert run_cli(capsys, *flags)[0] == 0
    rows = read_log(tmp_path / 'r' / 'train.log')
    assert [r[0] for r in rows[1:]] == ['1', '2']
    assert run_cli(capsys, *flags)[0] == 0
    assert [r[0] for r in read_log(tmp_path / 'r' / 'train.log')[1:]] == ['1', '2']


def test_ctrl_c_stops_after_the_batch_as_shells_expect(tmp_path, capsys, monkeypatch, ucf):
    monkeypatch.setattr(main_module.nn, 'CrossEntropyLoss', signal_at({2}, signal.SIGINT))
    code, err = run_cli(capsys, *ucf, '--n_epochs', 2, '--no_val', '--result_path',
                        tmp_path / 'r')
    assert code == 130 and 'SIGINT: stopping after this batch' in err
    assert load_checkpoint(str(tmp_path / 'r' / 'interrupted.pth'))['progress'] == [1, 0, 2]
