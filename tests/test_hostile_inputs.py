"""What a careless user does: concurrent runs, foreign resumes, odd options and files.
Each case ends in one clear line, a result, or a note; nothing written is lost."""
import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest
import torch

from models.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import (ROOT, TINY, assert_one_line_error, clips_of, data_flags, dataset_of,
                            read_log, run_cli, run_main, ucf_like)
from tests.datagen import labelled_layout
from models.registry import ModelSpec


@pytest.fixture
def flags(tmp_path):
    video_path, annotation_path = ucf_like(tmp_path / 'data')
    return [*data_flags(video_path, annotation_path, 'ucf101'), *TINY]


# -- files a run does not own -------------------------------------------------------------

@pytest.mark.slow
def test_a_second_run_into_a_busy_result_folder_refuses(tmp_path, capsys, flags):
    result = tmp_path / 'r'
    command = [sys.executable, 'main.py', *map(str, flags), '--result_path', str(result),
               '--n_epochs', '1000', '--checkpoint', '1']
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        while not (result / 'save_1.pth').exists():
            assert first.poll() is None and time.time() < deadline, first.communicate()
            time.sleep(0.05)
        code, err = run_cli(capsys, *flags, '--result_path', result, '--n_epochs', 1)
        assert_one_line_error(code, err, f'--result_path {result} is in use by a run')
        assert (result / 'save_1.pth').exists() and not (result / 'earlier_run').exists()
        assert not [p for p in os.listdir(result) if p.startswith('earlier_run_')]
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate()
    code, err = run_cli(capsys, *flags, '--result_path', result, '--n_epochs', 1)
    assert code == 0, err  # the lock went with the process


@pytest.mark.slow
def test_resuming_another_folders_checkpoint_moves_this_folders_run_aside(tmp_path, capsys,
                                                                         flags):
    other, result = tmp_path / 'other', tmp_path / 'r'
    assert run_cli(capsys, *flags, '--result_path', other, '--n_epochs', 1)[0] == 0
    assert run_cli(capsys, *flags, '--result_path', result, '--n_epochs', 3)[0] == 0
    code, err = run_cli(capsys, *flags, '--result_path', result, '--n_epochs', 2,
                        '--resume_path', other / 'save_1.pth')
    assert code == 0, err
    archived = [p for p in os.listdir(result) if p.startswith('earlier_run_')]
    assert len(archived) == 1
    assert load_checkpoint(str(result / archived[0] / 'save_3.pth'))['epoch'] == 4
    assert [r[0] for r in read_log(result / 'train.log')[1:]] == ['2']


@pytest.mark.slow
def test_a_run_that_does_not_train_keeps_the_training_options(tmp_path, capsys, flags):
    result = tmp_path / 'r'
    assert run_cli(capsys, *flags, '--result_path', result, '--n_epochs', 1)[0] == 0
    trained = (result / 'opts.json').read_text()
    (result / '.notes.tmp').write_text('mine')
    code, err = run_cli(capsys, *flags, '--result_path', result, '--no_train', '--test',
                        '--resume_path', result / 'save_1.pth')
    assert code == 0, err
    assert (result / 'opts.json').read_text() == trained
    assert json.loads((result / 'opts_no_train.json').read_text())['no_train'] is True
    assert (result / '.notes.tmp').read_text() == 'mine'  # not a file of this program's


def test_checkpoints_get_the_permissions_of_the_other_files(tmp_path, capsys, flags):
    result = tmp_path / 'r'
    old = os.umask(0o022)
    try:
        assert run_cli(capsys, *flags, '--result_path', result, '--n_epochs', 1)[0] == 0
    finally:
        os.umask(old)
    modes = {name: stat.S_IMODE(os.stat(result / name).st_mode)
             for name in ('save_1.pth', 'opts.json', 'train.log')}
    assert modes == {'save_1.pth': 0o644, 'opts.json': 0o644, 'train.log': 0o644}


def test_a_full_disk_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    import utils
    from utils import UserError, write_text_atomically
    path = tmp_path / 'opts.json'
    write_text_atomically(str(path), 'old')
    real_fsync = os.fsync

    def full(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(utils.os, 'fsync', full)
    with pytest.raises(UserError, match='could not write file .*opts.json: No space left'):
        write_text_atomically(str(path), 'new')
    monkeypatch.setattr(utils.os, 'fsync', real_fsync)

    def torch_full_disk(obj, f):
        f.write(b'x' * 10)
        raise RuntimeError('[enforce fail at inline_container.cc:664] . unexpected pos 64 '
                           'vs 0')

    from models import checkpoint as checkpoint_module
    save_checkpoint({'epoch': 2, 'state_dict': {}}, str(tmp_path / 'save_1.pth'))
    monkeypatch.setattr(checkpoint_module.torch, 'save', torch_full_disk)
    with pytest.raises(UserError, match='could not write checkpoint .*is the disk full'):
        save_checkpoint({'epoch': 3, 'state_dict': {}}, str(tmp_path / 'save_1.pth'))
    monkeypatch.undo()
    assert path.read_text() == 'old'
    assert load_checkpoint(str(tmp_path / 'save_1.pth'))['epoch'] == 2
    assert sorted(os.listdir(tmp_path)) == ['opts.json', 'save_1.pth']


# -- interruption and resume ---------------------------------------------------------------

def test_a_signal_during_start_up_prints_one_line(tmp_path):
    process = subprocess.Popen([sys.executable, 'main.py', '--no_cuda'], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)  # inside the imports (torch takes seconds to load)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip() == 'stopped'


@pytest.mark.slow
def test_explicit_hyperparameters_win_over_the_checkpoint(tmp_path, capsys, flags):
    result = tmp_path / 'r'
    assert run_cli(capsys, *flags, '--result_path', result, '--n_epochs', 1,
                   '--learning_rate', 0.1)[0] == 0
    code, err = run_cli(capsys, *flags, '--result_path', result, '--n_epochs', 2,
                        '--resume_path', result / 'save_1.pth', '--learning_rate', 0.01)
    assert code == 0, err
    assert float(read_log(result / 'train.log')[2][3]) == 0.01
    saved = load_checkpoint(str(result / 'save_2.pth'))['optimizer']['param_groups']
    assert [group['lr'] for group in saved] == [0.01]
    # Without the flag, the checkpoint's learning rate goes on.
    code, err = run_cli(capsys, *flags, '--result_path', result, '--n_epochs', 3,
                        '--resume_path', result / 'save_2.pth')
    assert code == 0 and float(read_log(result / 'train.log')[3][3]) == 0.01


@pytest.mark.slow
def test_the_change_of_learning_rate_is_said(tmp_path, capfd, flags):
    result = tmp_path / 'r'
    from tests.conftest import run_main
    run_main(*flags, '--result_path', result, '--n_epochs', 1, '--learning_rate', 0.1)
    run_main(*flags, '--result_path', result, '--n_epochs', 2, '--resume_path',
             result / 'save_1.pth', '--learning_rate', 0.01, '--momentum', 0.9)
    out = capfd.readouterr().out
    assert 'resuming with --learning_rate 0.01 (the checkpoint had 0.1)' in out
    assert '--momentum' not in out  # unchanged, so not said


@pytest.mark.slow
def test_nothing_to_do_is_said(tmp_path, capsys, flags):
    result = tmp_path / 'r'
    assert run_cli(capsys, *flags, '--result_path', result, '--n_epochs', 1)[0] == 0
    code, err = run_cli(capsys, *flags, '--result_path', result, '--n_epochs', 1,
                        '--resume_path', result / 'save_1.pth')
    assert code == 0 and 'note: nothing to train: ' in err and 'raise --n_epochs' in err
    assert [r[0] for r in read_log(result / 'train.log')[1:]] == ['1']
    code, err = run_cli(capsys, *flags, '--result_path', tmp_path / 'f', '--n_epochs', 1,
                        '--ft_begin_index', 4)
    assert code == 0 and 'note: --ft_begin_index 4 does nothing without --pretrain_path' in err


def test_a_training_set_smaller_than_a_batch_is_refused(tmp_path, capsys):
    video_path, annotation_path = labelled_layout(
        str(tmp_path / 'data'), ['a'], [('a', 'training', 10), ('a', 'validation', 10)])
    result = tmp_path / 'r'
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101', 1), *TINY,
                        '--result_path', result, '--n_epochs', 1)
    assert_one_line_error(code, err, '1 training clips, not one batch of --batch_size 4',
                          'lower --batch_size')
    assert not (result / 'save_1.pth').exists()


# -- numbers and files read from disk --------------------------------------------------

@pytest.mark.parametrize('content', ['nan', 'inf', '-inf', '1e10', '1e9', 'folder'])
def test_n_frames_out_of_bounds_is_one_line(tmp_path, capsys, content):
    video_path, annotation_path = ucf_like(tmp_path / 'data')
    n_frames = tmp_path / 'data' / 'jpg' / 'a' / 'v000' / 'n_frames'
    if content == 'folder':
        n_frames.unlink()
        n_frames.mkdir()
    else:
        n_frames.write_text(content)
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101'), *TINY,
                        '--result_path', tmp_path / 'r', '--n_epochs', 1)
    assert_one_line_error(code, err, str(n_frames))


@pytest.mark.slow
def test_kinetics_keys_without_a_time_suffix_keep_their_key(tmp_path, capsys):
    video_path, annotation_path = ucf_like(tmp_path / 'data', val=2)  # keys v000 ... (no suffix)
    result = tmp_path / 'r'
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'kinetics'), *TINY,
                        '--result_path', result, '--n_epochs', 1, '--test')
    assert code == 0, err
    results = json.loads((result / 'val.json').read_text())['results']
    assert sorted(results) == [f'v{i:03d}' for i in range(9, 15)]


@pytest.mark.slow
def test_checkpoint_fields_of_the_wrong_type_are_one_line(tmp_path, capsys, flags):
    result = tmp_path / 'r'
    assert run_cli(capsys, *flags, '--result_path', result, '--n_epochs', 1)[0] == 0
    good = torch.load(result / 'save_1.pth')
    for key, value, expect in (('epoch', 'two', "'epoch' is a str"),
                               ('epoch', 10 ** 12, 'out of range'),
                               ('optimizer', [1, 2], "'optimizer' is a list")):
        path = tmp_path / f'{key}.pth'
        torch.save(dict(good, **{key: value}), path)
        code, err = run_cli(capsys, *flags, '--result_path', tmp_path / 'x', '--n_epochs', 2,
                            '--resume_path', path)
        assert_one_line_error(code, err, str(path), expect)
    broken = dict(good, state_dict=dict(good['state_dict']))
    broken['state_dict']['fc.weight'] = broken['state_dict']['fc.weight'] * float('nan')
    torch.save(broken, tmp_path / 'nan.pth')
    code, err = run_cli(capsys, *flags, '--result_path', tmp_path / 'x', '--n_epochs', 2,
                        '--resume_path', tmp_path / 'nan.pth')
    assert_one_line_error(code, err, 'fc.weight holds NaN or infinite values')


# -- results are right or refused --------------------------------------------------------

@pytest.mark.slow
def test_a_diverged_model_writes_no_result(tmp_path, capsys, flags):
    result = tmp_path / 'r'
    assert run_cli(capsys, *flags, '--result_path', result, '--n_epochs', 1)[0] == 0
    checkpoint = torch.load(result / 'save_1.pth')
    # Finite weights whose outputs overflow: a diverged model.
    checkpoint['state_dict']['fc.weight'] = checkpoint['state_dict']['fc.weight'] * 1e38
    torch.save(checkpoint, tmp_path / 'diverged.pth')
    out = tmp_path / 'eval'
    code, err = run_cli(capsys, *flags, '--result_path', out, '--no_train', '--test',
                        '--resume_path', tmp_path / 'diverged.pth')
    assert_one_line_error(code, err, 'validation loss became', 'non-finite outputs')
    assert not (out / 'val.log').exists() or len(read_log(out / 'val.log')) == 1
    code, err = run_cli(capsys, *flags, '--result_path', out, '--no_train', '--no_val',
                        '--test', '--resume_path', tmp_path / 'diverged.pth',
                        '--no_softmax_in_test')
    assert_one_line_error(code, err, 'are not finite', 'val.json was not written')
    assert not (out / 'val.json').exists()


# -- messages that point the right way ----------------------------------------------------

def test_messages_point_the_right_way(tmp_path, capsys, flags):
    code, err = run_cli(capsys, *flags, '--result_path', tmp_path / 'r', '--resume_path',
                        tmp_path)
    assert_one_line_error(code, err, 'is a folder: give the checkpoint file')
    from models.factory import build_model
    from opts import parse_opts
    opt = parse_opts(['--model_depth', '10', '--resnet_shortcut', 'B', '--sample_size', '32'])
    torch.save({'arch': 'resnet-10', 'state_dict': build_model(ModelSpec.from_options(opt), 3).state_dict()},
               tmp_path / 'b.pth')
    code, err = run_cli(capsys, *flags, '--result_path', tmp_path / 'r', '--resume_path',
                        tmp_path / 'b.pth')
    assert_one_line_error(code, err, '--resnet_shortcut')
    code, err = run_cli(capsys, *flags, '--result_path', tmp_path / 'r', '--no_train',
                        '--no_val', '--test', '--test_subset', 'test')
    assert_one_line_error(code, err, 'has no videos in its testing subset',
                          '--test_subset val')


@pytest.mark.parametrize('document,expect', [
    ('{"labels": ["a"], "database": {"x": ' + '1' * 100001 + '}}', 'is not an annotation file'),
    ('[' * 100000 + ']' * 100000, 'is not an annotation file'),
    ('{"labels": ["a"], "database": {"v000": {"subset": "training", "annotations": '
     '{"label": 5}}}}', 'has the label 5: labels are class names'),
])
def test_hostile_annotation_files_are_one_line(tmp_path, capsys, document, expect):
    video_path, _ = ucf_like(tmp_path / 'data')
    path = tmp_path / 'hostile.json'
    path.write_text(document)
    code, err = run_cli(capsys, *data_flags(video_path, path, 'ucf101'), *TINY,
                        '--result_path', tmp_path / 'r', '--n_epochs', 1)
    assert_one_line_error(code, err, str(path), expect)


@pytest.mark.parametrize('segment', [['nan', 3], [0, 1e300], [5, 2]])
def test_activitynet_segments_out_of_bounds_are_one_line(tmp_path, segment):
    from datasets import ActivityNet
    from tests.datagen import activitynet_layout
    from utils import UserError
    video_path, annotation_path = activitynet_layout(
        str(tmp_path), [('training', 30, 10.0, [('run', 0.0, 2.0)])])
    data = json.loads(open(annotation_path).read())
    data['database']['a000']['annotations'][0]['segment'] = segment
    with open(annotation_path, 'w') as f:
        json.dump(data, f)
    with pytest.raises(UserError, match="'a000' has .*segment"):
        ActivityNet(video_path, annotation_path, 'training', 1, sample_duration=4)


@pytest.mark.parametrize('extra,expect', [
    (['--batch_size', 1], 'Expected more than 1 value per channel'),
    (['--model', 'densenet', '--model_depth', 121, '--sample_duration', 24, '--sample_size',
      112], 'densenet-121 cannot take clips of --sample_duration 24'),
    (['--model', 'densenet', '--model_depth', 121, '--sample_duration', 16, '--sample_size',
      63], '--sample_size 63 pixels'),
])
def test_options_the_network_cannot_take_fail_before_anything_starts(tmp_path, capsys, flags,
                                                                     extra, expect):
    result = tmp_path / 'r'
    code, err = run_cli(capsys, *flags, '--result_path', result, '--n_epochs', 1, *extra)
    assert_one_line_error(code, err, expect)
    assert not result.exists() or not os.listdir(result)


@pytest.mark.parametrize('argv,expect', [
    (['--scale_in_test', 100], '--scale_in_test: 100 scales frames to 1 pixels'),
    (['--manual_seed', 2 ** 70], '--manual_seed'),
    (['--scale_step', 0.1], 'crop scale 4 of 5 is 0.001'),
    (['--n_scales', 10 ** 9], '--n_scales: at most 100'),
])
def test_option_values_out_of_range_are_one_line(argv, expect):
    import contextlib
    import io
    from opts import parse_opts
    stderr = io.StringIO()
    with pytest.raises(SystemExit) as stop, contextlib.redirect_stderr(stderr):
        parse_opts([str(a) for a in argv])
    assert stop.value.code == 2
    assert len(stderr.getvalue().strip().splitlines()) == 1 and expect in stderr.getvalue()


def test_a_stray_frame_far_past_the_last_skips_its_video_with_bounded_memory(tmp_path, capsys):
    import shutil
    import tracemalloc
    from datasets import ActivityNet
    from tests.datagen import activitynet_layout
    video_path, annotation_path = activitynet_layout(
        str(tmp_path), [('validation', 30, 10.0, [('run', 0.0, 2.0)]),
                        ('validation', 30, 10.0, [('jump', 0.0, 2.0)])])
    stray = os.path.join(video_path, 'v_a001', 'image_99999999.jpg')
    shutil.copy(os.path.join(video_path, 'v_a001', 'image_00001.jpg'), stray)
    tracemalloc.start()
    for untrimmed in (False, True):
        dataset = ActivityNet(video_path, annotation_path, 'validation', untrimmed,
                              0, sample_duration=4, purpose='test')
        assert {dataset.video_ids[v] for v in dataset.span_video} == {'a000'}
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20e6  # the dense hole list of that folder alone would be 800 MB
    err = capsys.readouterr().err
    assert 'v_a001' in err and 'image_99999999.jpg' in err and 'holds 31 frames' in err


def test_the_skipped_videos_line_names_the_pass_it_builds_for(tmp_path, capsys, make_opt):
    from recipes.cvpr2018 import test_transforms
    video_path, annotation_path = ucf_like(tmp_path)
    os.rename(os.path.join(video_path, 'a', 'v009'), os.path.join(video_path, 'a', 'gone'))
    opt = make_opt(*data_flags(video_path, annotation_path, 'ucf101'), '--test_subset', 'val')
    dataset_of(opt, 'test', test_transforms(clips_of(opt)))
    out = capsys.readouterr().out
    assert '(validation subset, for the test pass): skipped 1 of' in out


@pytest.mark.slow
def test_progress_lines_name_their_pass(tmp_path, capsys, flags):
    run_main(*flags, '--result_path', tmp_path / 'r', '--n_epochs', 1, '--test')
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if '\tTime ' in line]
    assert {line.split(' ', 1)[0] for line in lines} == {'train', 'val', 'test'}
    assert any(line.startswith('train Epoch: [1][1/') for line in lines)
    assert any(line.startswith('test [1/') for line in lines)

