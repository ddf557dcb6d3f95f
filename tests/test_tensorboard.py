"""--tensorboard: the epochs' curves in the result folder, continued by a resumed run without
duplicate steps; a missing package is one line at the start."""
import csv
import os

import pytest

from tests.conftest import TINY, data_flags, run_cli, run_main, ucf_like

pytest.importorskip('tensorboard')  # CI installs it (requirements.txt)


def read_curves(folder):
    """{tag: [(step, value), ...]} as TensorBoard shows them (purged steps dropped)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()['scalars']}


def read_log(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter='\t'))


@pytest.mark.slow
def test_curves_hold_each_epoch_and_the_learning_rate(tmp_path):
    video_path, annotation_path = ucf_like(tmp_path / 'data')
    flags = [*data_flags(video_path, annotation_path, 'ucf101'), *TINY, '--tensorboard',
             '--result_path', tmp_path / 'r', '--learning_rate', 0.05]
    run_main(*flags, '--n_epochs', 2)
    run_main(*flags, '--n_epochs', 3, '--resume_path', tmp_path / 'r' / 'save_2.pth')
    curves = read_curves(tmp_path / 'r')
    assert set(curves) == {'train/loss', 'train/acc', 'train/lr', 'val/loss', 'val/acc'}
    for tag, points in curves.items():
        assert [step for step, _ in points] == [1, 2, 3], tag  # resumed: no step twice
    train = read_log(tmp_path / 'r' / 'train.log')
    val = read_log(tmp_path / 'r' / 'val.log')
    assert [v for _, v in curves['train/lr']] == pytest.approx([float(r['lr']) for r in train])
    assert [v for _, v in curves['train/lr']] == pytest.approx([0.05] * 3)
    assert [v for _, v in curves['train/loss']] == pytest.approx(
        [float(r['loss']) for r in train], rel=1e-5)
    assert [v for _, v in curves['val/acc']] == pytest.approx(
        [float(r['acc']) for r in val], abs=1e-6)


@pytest.mark.slow
def test_a_run_resumed_from_an_earlier_epoch_replaces_the_later_steps(tmp_path):
    video_path, annotation_path = ucf_like(tmp_path / 'data')
    flags = [*data_flags(video_path, annotation_path, 'ucf101'), *TINY, '--tensorboard',
             '--result_path', tmp_path / 'r', '--no_val', '--checkpoint', 1]
    run_main(*flags, '--n_epochs', 3)
    run_main(*flags, '--n_epochs', 3, '--resume_path', tmp_path / 'r' / 'save_1.pth')
    steps = [step for step, _ in read_curves(tmp_path / 'r')['train/loss']]
    assert steps == [1, 2, 3]


def test_a_missing_package_is_one_line_before_anything_is_written(tmp_path, capsys,
                                                                  monkeypatch):
    import curves
    from utils import UserError

    def missing():
        raise UserError(curves.MISSING)
    monkeypatch.setattr(curves, 'summary_writer_class', missing)
    video_path, annotation_path = ucf_like(tmp_path / 'data')
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101'), *TINY,
                        '--tensorboard', '--result_path', tmp_path / 'r', '--n_epochs', 1)
    assert code == 2 and err.strip().count('\n') == 0 and 'pip install tensorboard' in err
    assert not os.path.exists(tmp_path / 'r' / 'train.log')


@pytest.mark.slow
def test_2020_curves_follow_the_multistep_rate_across_a_resume(tmp_path):
    """--recipe 2020: the rate each epoch trained with (0.05, then 0.005 after the
    milestone), continued by a run resumed from save_1.pth (which holds the epoch done)."""
    video_path, annotation_path = ucf_like(tmp_path / 'data')
    flags = ['--recipe', '2020', *data_flags(video_path, annotation_path, 'ucf101'), *TINY,
             '--tensorboard', '--result_path', tmp_path / 'r', '--learning_rate', 0.05,
             '--multistep_milestones', 1, '--checkpoint', 1]
    run_main(*flags, '--n_epochs', 1)
    run_main(*flags, '--n_epochs', 3, '--resume_path', tmp_path / 'r' / 'save_1.pth')
    curves = read_curves(tmp_path / 'r')
    assert [step for step, _ in curves['train/lr']] == [1, 2, 3]
    assert [v for _, v in curves['train/lr']] == pytest.approx([0.05, 0.005, 0.005])
    assert [step for step, _ in curves['val/loss']] == [1, 2, 3]
