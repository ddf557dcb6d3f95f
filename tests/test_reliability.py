"""Crash safety, interruption, non-finite losses, and one-line errors for bad input."""
import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

import main as main_module
from models import checkpoint as checkpoint_module
from models.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import (ROOT, TINY, assert_one_line_error, data_flags, read_log, run_cli,
                            ucf_like)
from tests.datagen import labelled_layout
from utils import STOP, STOPPED_RESUMABLE, UserError
from models.registry import ModelSpec


def start_training(result, video_path, annotation_path, *extra):
    command = [sys.executable, 'main.py', *map(str, data_flags(video_path, annotation_path,
                                                               'ucf101')),
               '--result_path', str(result), '--no_cuda', '--sample_size', '32',
               '--sample_duration', '8', '--batch_size', '2', '--model_depth', '18',
               '--checkpoint', '1', *map(str, extra)]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def logged_batches(result):
    log = result / 'train_batch.log'
    return max(0, len(log.read_text().splitlines()) - 1) if log.exists() else 0


def wait_for_batches(result, n, process, timeout=120):
    """Wait until this process has logged n more batches."""
    target = logged_batches(result) + n
    deadline = time.time() + timeout
    while time.time() < deadline:
        if logged_batches(result) >= target:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError('training made no progress')


# -- interruption -----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize('sig', [signal.SIGTERM])  # (SIGINT, SIGUSR1: test_resume.py)
def test_signal_stops_after_batch_with_resumable_checkpoint(tmp_path, sig):
    video_path, annotation_path = ucf_like(tmp_path, train=4)
    result = tmp_path / 'r'
    process = start_training(result, video_path, annotation_path, '--n_epochs', 50,
                             '--n_threads', 1)
    wait_for_batches(result, 8, process)  # into epoch 2
    os.killpg(process.pid, sig)  # as a terminal does: workers get it too
    out, err = process.communicate(timeout=120)
    # Ctrl-C as shells expect; a scheduler's: stopped, resumable (SIGUSR1: test_resume.py)
    assert process.returncode == (130 if sig == signal.SIGINT else STOPPED_RESUMABLE), err
    path = result / 'interrupted.pth'
    assert f'wrote {path}' in err
    checkpoint = load_checkpoint(str(path))
    rows = (result / 'train_batch.log').read_text().splitlines()
    assert checkpoint['epoch'] == int(rows[-1].split('\t')[0])  # the interrupted epoch
    code = subprocess.run([sys.executable, 'main.py', *map(str, data_flags(
        video_path, annotation_path, 'ucf101')), '--result_path', str(result), '--no_cuda',
        '--sample_size', '32', '--sample_duration', '8', '--batch_size', '2',
        '--model_depth', '18', '--n_epochs', str(checkpoint['epoch']), '--n_threads', '0',
        '--resume_path', str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert code.returncode == 0, code.stderr
    assert os.path.exists(result / f'save_{checkpoint["epoch"]}.pth')


def run_signalled_in_batch_2(tmp_path, capsys, monkeypatch, *signals):
    """A run whose second batch sends `signals` to itself (from its loss, so inside the
    batch whatever the machine's speed): (exit status, stderr, result folder)."""
    def send(loss):
        for sent in signals:
            os.kill(os.getpid(), sent)
        return loss

    video_path, annotation_path = ucf_like(tmp_path)
    monkeypatch.setattr(main_module.nn, 'CrossEntropyLoss', loss_poisoned_at({2}, send))
    result = tmp_path / 'r'
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101'), *TINY,
                        '--result_path', result, '--n_epochs', 5, '--no_val')
    return code, err, result


def test_second_signal_stops_at_once(tmp_path, capsys, monkeypatch):
    """Both signals arrive inside one batch: the first asks to stop after the batch, the
    second (Ctrl-C) stops at once."""
    code, err, result = run_signalled_in_batch_2(tmp_path, capsys, monkeypatch,
                                                 signal.SIGTERM, signal.SIGINT)
    assert code == 130, err
    assert 'SIGTERM: stopping after this batch' in err
    assert err.strip().endswith('stopped at once') and 'Traceback' not in err
    assert len(read_log(result / 'train_batch.log')) == 2  # header and batch 1 only
    assert signal.getsignal(signal.SIGTERM) != STOP.handle  # the handlers are given back


def test_a_repeated_sigterm_asks_the_same_stop(tmp_path, capsys, monkeypatch):
    """A scheduler's SIGTERM and torchrun's copy of it arrive together: the run still stops
    after the batch, saves interrupted.pth and exits as resumable."""
    code, err, result = run_signalled_in_batch_2(tmp_path, capsys, monkeypatch,
                                                 signal.SIGTERM, signal.SIGTERM)
    assert code == STOPPED_RESUMABLE, err
    assert load_checkpoint(str(result / 'interrupted.pth'))['progress'] == [1, 0, 2]


# A process that saves a checkpoint over an existing one and, at `moment` of the save, tells
# the test (by creating the marker file) and waits to be killed.
KILLED_SAVE = """
import os, sys, time
sys.path.insert(0, {root!r})
import torch
from models import checkpoint

path, marker, moment = sys.argv[1:]

def announce_and_wait():
    open(marker, 'w').close()
    time.sleep(120)

class HalfWrittenFile:
    # Writes half of the first chunk of the checkpoint's bytes, then waits.
    def __init__(self, f):
        self.f = f
    def write(self, data):
        self.f.write(bytes(data)[:len(data) // 2])
        self.f.flush()
        announce_and_wait()
    def __getattr__(self, name):
        return getattr(self.f, name)

if moment == 'writing':
    real_save = torch.save
    checkpoint.torch.save = lambda obj, f: real_save(obj, HalfWrittenFile(f))
else:  # written and flushed, not yet renamed
    checkpoint.os.fsync = lambda fd: announce_and_wait()
checkpoint.save_checkpoint({{'epoch': 7, 'state_dict': {{'w': torch.zeros(100000)}}}}, path)
"""


@pytest.mark.slow
@pytest.mark.parametrize('moment', ['writing', 'before_rename'])
def test_sigkill_during_a_save_leaves_the_previous_checkpoint(tmp_path, moment):
    path, marker = tmp_path / 'save_5.pth', tmp_path / 'saving'
    save_checkpoint({'epoch': 6, 'state_dict': {'w': torch.ones(100000)}}, str(path))
    process = subprocess.Popen([sys.executable, '-c', KILLED_SAVE.format(root=ROOT), str(path),
                                str(marker), moment], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not marker.exists():
        assert process.poll() is None and time.time() < deadline, process.communicate()
        time.sleep(0.02)
    process.kill()
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    # The kill landed inside the save: its temporary file is there, partly or wholly written.
    leftovers = [p for p in os.listdir(tmp_path) if p.endswith('.tmp')]
    assert len(leftovers) == 1 and leftovers[0].startswith('.save_5.pth.')
    assert (tmp_path / leftovers[0]).stat().st_size > 0
    checkpoint = load_checkpoint(str(path))  # the previous file, whole
    assert checkpoint['epoch'] == 6 and torch.equal(checkpoint['state_dict']['w'],
                                                    torch.ones(100000))


@pytest.mark.slow
def test_a_new_run_clears_the_temporary_files_of_a_killed_save(tmp_path, capsys):
    video_path, annotation_path = ucf_like(tmp_path / 'data')
    result = tmp_path / 'r'
    result.mkdir()
    (result / '.save_3.pth.abc123.tmp').write_bytes(b'half a checkpoint')
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101'), *TINY,
                        '--result_path', result, '--n_epochs', 1)
    assert code == 0, err
    assert not (result / '.save_3.pth.abc123.tmp').exists()
    assert load_checkpoint(str(result / 'save_1.pth'))['epoch'] == 2


# -- non-finite loss and full disk ------------------------------------------------------

@pytest.mark.slow
def test_nan_loss_stops_naming_epoch_and_batch(tmp_path, capsys, monkeypatch):
    video_path, annotation_path = ucf_like(tmp_path)

    monkeypatch.setattr(main_module.nn, 'CrossEntropyLoss',
                        loss_poisoned_at({6}, lambda loss: loss * float('nan')))
    result = tmp_path / 'r'
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101'), *TINY,
                        '--result_path', result, '--n_epochs', 5, '--checkpoint', 1, '--no_val')
    # 9 clips, batch 4: 2 batches per epoch (the 1-clip batch is dropped); call 6 is
    # epoch 3, batch 2.
    assert_one_line_error(code, err, 'loss became nan at epoch 3, batch 2',
                          f'the last good checkpoint is {result / "save_2.pth"}')
    weights = load_checkpoint(str(result / 'save_2.pth'))['state_dict']
    assert all(torch.isfinite(v.float()).all() for v in weights.values())
    assert not (result / 'save_3.pth').exists()


class NaNGradient(torch.autograd.Function):
    """Passes the loss through unchanged; its gradient comes back NaN."""

    @staticmethod
    def forward(ctx, loss):
        return loss.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float('nan')


def loss_poisoned_at(calls, poison):
    """A CrossEntropyLoss class whose n-th calls, for n in `calls`, return poison(loss)."""
    class Loss(torch.nn.CrossEntropyLoss):
        n = 0

        def forward(self, outputs, targets):
            Loss.n += 1
            loss = super().forward(outputs, targets)
            return poison(loss) if Loss.n in calls else loss
    return Loss


@pytest.mark.slow
def test_one_batch_of_nan_gradients_is_skipped_not_learned(tmp_path, capsys, monkeypatch):
    video_path, annotation_path = ucf_like(tmp_path)
    monkeypatch.setattr(main_module.nn, 'CrossEntropyLoss', loss_poisoned_at({4}, NaNGradient.apply))
    result = tmp_path / 'r'
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101'), *TINY,
                        '--result_path', result, '--n_epochs', 3, '--no_val')
    assert code == 0, err
    # 2 batches per epoch: call 4 is epoch 2, batch 2.
    assert 'epoch 2, batch 2: the gradients are not finite (the loss is ' in err
    assert err.count('this step is skipped') == 1
    weights = load_checkpoint(str(result / 'save_3.pth'))['state_dict']
    assert all(torch.isfinite(v.float()).all() for v in weights.values())


@pytest.mark.slow
def test_nan_gradients_in_a_row_stop_the_run(tmp_path, capsys, monkeypatch):
    video_path, annotation_path = ucf_like(tmp_path)
    # calls 3, 4 and 5 span two epochs (2 batches each): still three in a row
    monkeypatch.setattr(main_module.nn, 'CrossEntropyLoss',
                        loss_poisoned_at({3, 4, 5}, NaNGradient.apply))
    result = tmp_path / 'r'
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101'), *TINY,
                        '--result_path', result, '--n_epochs', 5, '--checkpoint', 1, '--no_val')
    assert code not in (0, None) and 'Traceback' not in err
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all('this step is skipped' in line for line in lines[:2])
    assert lines[-1] == (f'error: the gradients became nan in 3 batches in a row, the last at '
                         f'epoch 3, batch 1: try a lower --learning_rate; the last good '
                         f'checkpoint is {result / "save_2.pth"}')
    weights = load_checkpoint(str(result / 'save_2.pth'))['state_dict']
    assert all(torch.isfinite(v.float()).all() for v in weights.values())


def test_full_disk_while_saving_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / 'save_5.pth'
    save_checkpoint({'epoch': 6, 'state_dict': {'w': torch.ones(2)}}, str(path))

    def disk_full(obj, f):
        f.write(b'partial')
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(checkpoint_module.torch, 'save', disk_full)
    with pytest.raises(UserError, match='could not write checkpoint .*No space left'):
        save_checkpoint({'epoch': 7, 'state_dict': {}}, str(path))
    assert load_checkpoint(str(path))['epoch'] == 6
    assert os.listdir(tmp_path) == ['save_5.pth']


# -- bad input: one line, non-zero exit, nothing in result_path harmed ---------------

@pytest.fixture
def tiny_data(tmp_path):
    video_path, annotation_path = ucf_like(tmp_path / 'data')
    result = tmp_path / 'results'
    result.mkdir()
    (result / 'train.log').write_text('epoch\tloss\tacc\tlr\n1\t1.0\t0.5\t0.1\n')
    torch.save({'epoch': 2, 'arch': 'resnet-10', 'state_dict': {}}, result / 'save_1.pth')
    return video_path, annotation_path, result


def result_untouched(result):
    assert (result / 'train.log').read_text() == 'epoch\tloss\tacc\tlr\n1\t1.0\t0.5\t0.1\n'
    assert sorted(os.listdir(result)) == ['save_1.pth', 'train.log']


def bad_checkpoint(tmp_path, kind):
    path = tmp_path / f'{kind}.pth'
    from models.factory import build_model
    from opts import parse_opts
    if kind == 'foreign':
        path.write_text('just text')
    elif kind == 'wrong_arch':
        opt = parse_opts(['--model_depth', '18', '--sample_size', '32'])
        torch.save({'arch': 'resnet-18', 'state_dict': build_model(ModelSpec.from_options(opt), 3).state_dict()}, path)
    elif kind == 'wrong_classes':
        opt = parse_opts(['--model_depth', '10', '--resnet_shortcut', 'A', '--sample_size', '32'])
        torch.save({'arch': 'resnet-10', 'state_dict': build_model(ModelSpec.from_options(opt), 7).state_dict()}, path)
    elif kind == 'unsafe':
        torch.save({'arch': 'resnet-10', 'state_dict': {}, 'x': UnsafeThing()}, path)
    return path


class UnsafeThing:
    pass


@pytest.mark.parametrize('case', [
    'missing_annotation', 'malformed_annotation', 'no_database', 'missing_video_path',
    'unsupported_depth', 'unknown_model', 'missing_checkpoint', 'foreign', 'wrong_arch',
    'wrong_classes', 'unsafe', 'result_not_writable',
    'negative_batch', 'not_a_number', 'bad_choice'])
def test_bad_input_is_one_line(tmp_path, capsys, tiny_data, case):
    video_path, annotation_path, result = tiny_data
    flags = {'video': video_path, 'annotation': annotation_path, 'extra': []}
    expect = []
    if case == 'missing_annotation':
        flags['annotation'] = tmp_path / 'none.json'
        expect = ['annotation file not found', 'none.json']
    elif case == 'malformed_annotation':
        (tmp_path / 'bad.json').write_text('{"labels": [}')
        flags['annotation'] = tmp_path / 'bad.json'
        expect = ['bad.json', 'line 1']
    elif case == 'no_database':
        (tmp_path / 'nodb.json').write_text('{"labels": []}')
        flags['annotation'] = tmp_path / 'nodb.json'
        expect = ['no "database"']
    elif case == 'missing_video_path':
        flags['video'] = tmp_path / 'nowhere'
        expect = ['video folder not found', 'nowhere']
    elif case == 'unsupported_depth':
        flags['extra'] = ['--model_depth', 19]
        expect = ['--model_depth', 'no depth 19']
    elif case == 'unknown_model':
        flags['extra'] = ['--model', 'vgg']
        expect = ['--model', "'vgg'"]
    elif case == 'missing_checkpoint':
        flags['extra'] = ['--resume_path', tmp_path / 'gone.pth']
        expect = ['checkpoint not found', 'gone.pth']
    elif case in ('foreign', 'wrong_arch', 'wrong_classes', 'unsafe'):
        flags['extra'] = ['--resume_path', bad_checkpoint(tmp_path, case)]
        expect = {'foreign': ['foreign.pth', 'not a readable'],
                  'wrong_arch': ['resnet-18', 'resnet-10'],
                  'wrong_classes': ['7 classes', '--n_classes 7'],
                  'unsafe': ['refused', 'trust_checkpoint.py']}[case]
    elif case == 'result_not_writable':
        (tmp_path / 'a_file').write_text('x')
        flags['extra'] = ['--result_path', tmp_path / 'a_file' / 'results']
        expect = ['cannot write to --result_path']
    elif case == 'negative_batch':
        flags['extra'] = ['--batch_size', -1]
        expect = ['--batch_size', 'positive']
    elif case == 'not_a_number':
        flags['extra'] = ['--sample_size', 'abc']
        expect = ['--sample_size']
    elif case == 'bad_choice':
        flags['extra'] = ['--train_crop', 'diagonal']
        expect = ['--train_crop']
    code, err = run_cli(capsys, '--video_path', flags['video'], '--annotation_path',
                        flags['annotation'], '--dataset', 'ucf101', '--n_classes', 3, *TINY,
                        '--n_epochs', 1, '--result_path', result, *flags['extra'])
    assert_one_line_error(code, err, *expect)
    result_untouched(result)


def test_debug_shows_the_traceback(tmp_path, tiny_data):
    video_path, _, result = tiny_data
    with pytest.raises(UserError):
        main_module.main(['--video_path', str(video_path), '--annotation_path',
                          str(tmp_path / 'none.json'), '--result_path', str(result), '--debug',
                          '--no_cuda'])


# -- fuzzing ----------------------------------------------------------------------------

json_values = hst.recursive(
    hst.none() | hst.booleans() | hst.integers(-3, 40) | hst.floats(allow_nan=False, width=32) |
    hst.sampled_from(['training', 'validation', 'a', 'b', 'label', '']),
    lambda children: hst.lists(children, max_size=3) | hst.dictionaries(
        hst.sampled_from(['subset', 'annotations', 'label', 'segment', 'labels', 'database',
                         'v000', 'v001', 'x']), children, max_size=4),
    max_leaves=12)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=hst.one_of(
    json_values,
    hst.fixed_dictionaries({'labels': json_values, 'database': json_values}),
    hst.fixed_dictionaries({'labels': hst.just(['a', 'b', 'c']), 'database': hst.dictionaries(
        hst.sampled_from(['v000', 'v001', 'v003', 'zz']), hst.fixed_dictionaries(
            {'subset': hst.sampled_from(['training', 'validation', 'x']),
             'annotations': json_values | hst.fixed_dictionaries(
                 {'label': hst.sampled_from(['a', 'b', 'q', ''])})}), max_size=4)}),
    hst.fixed_dictionaries({'taxonomy': json_values, 'database': json_values})))
@pytest.mark.slow
def test_fuzzed_annotation_files_fail_cleanly(tmp_path_factory, document):
    """Any annotation document builds a dataset or raises UserError, nothing else."""
    from datasets import ActivityNet, Kinetics
    root = tmp_path_factory.getbasetemp() / 'fuzz'
    if not root.exists():
        labelled_layout(str(root), ['a', 'b', 'c'], [('a', 'training', 3), ('b', 'training', 3)])
    path = root / 'fuzzed.json'
    path.write_text(json.dumps(document))
    for layout in (Kinetics, ActivityNet):
        for subset in ('training', 'validation'):
            try:
                dataset = layout(str(root / 'jpg'), str(path), subset, 1, sample_duration=2)
            except UserError:
                continue
            assert len(dataset) > 0


flag_names = ['--batch_size', '--sample_size', '--n_epochs', '--learning_rate',
              '--initial_scale', '--n_scales',
              '--model_depth', '--n_val_samples', '--scale_step', '--ft_begin_index',
              '--test_subset', '--model', '--n_threads', '--norm_value', '--weight_decay']


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(argv=hst.lists(hst.tuples(hst.sampled_from(flag_names), hst.one_of(
    hst.integers(-5, 300).map(str), hst.floats(allow_nan=True, allow_infinity=True).map(str),
    hst.sampled_from(['', 'abc', 'resnet', 'densenet', 'val', '1e-3', '-0', 'nan']))),
    max_size=4))
def test_fuzzed_flags_parse_or_fail_in_one_line(argv):
    import contextlib
    import io
    from opts import parse_opts
    flat = [x for pair in argv for x in pair]
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            opt = parse_opts(flat)
    except SystemExit as e:
        assert e.code == 2
        err = stderr.getvalue()
        assert len(err.strip().splitlines()) == 1 and 'error:' in err
        return
    assert opt.batch_size >= 1 and opt.sample_size >= 1 and opt.learning_rate > 0
    assert opt.model_depth in __import__('models.factory').factory.supported_depths(opt.model)


@pytest.mark.slow
def test_a_run_stopped_during_validation_resumes_at_that_validation(tmp_path, capsys,
                                                                     monkeypatch):
    video_path, annotation_path = ucf_like(tmp_path)
    flags = [*data_flags(video_path, annotation_path, 'ucf101'), *TINY, '--checkpoint', 5]

    def signal_once(loss):
        os.kill(os.getpid(), signal.SIGTERM)
        return loss

    # 9 training clips in batches of 4: 2 batches; call 3 is epoch 1's first validation batch.
    monkeypatch.setattr(main_module.nn, 'CrossEntropyLoss', loss_poisoned_at({3}, signal_once))
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    code, err = run_cli(capsys, *flags, '--result_path', split, '--n_epochs', 2)
    assert code == STOPPED_RESUMABLE and 'stopped during epoch 1' in err
    checkpoint = load_checkpoint(str(split / 'interrupted.pth'))
    assert (checkpoint['epoch'], checkpoint['trained']) == (1, 1)
    monkeypatch.undo()
    assert run_cli(capsys, *flags, '--result_path', split, '--n_epochs', 2, '--resume_path',
                   split / 'interrupted.pth')[0] == 0
    assert run_cli(capsys, *flags, '--result_path', straight, '--n_epochs', 2)[0] == 0
    for log in ('train.log', 'train_batch.log', 'val.log'):
        a, b = read_log(straight / log), read_log(split / log)
        assert [r[:2] for r in a] == [r[:2] for r in b], log  # epoch 1 trained once
        assert [float(x) for r in a[1:] for x in r] == pytest.approx(
            [float(x) for r in b[1:] for x in r], abs=1e-5), log


@pytest.mark.slow
def test_a_second_signal_during_the_save_of_interrupted_pth_leaves_it_whole(tmp_path, capsys,
                                                                            monkeypatch):
    def first_signal(loss):
        os.kill(os.getpid(), signal.SIGTERM)
        return loss

    real_save = checkpoint_module.torch.save

    def save_with_a_second_signal(obj, f):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, arriving mid-save
        real_save(obj, f)

    video_path, annotation_path = ucf_like(tmp_path)
    monkeypatch.setattr(main_module.nn, 'CrossEntropyLoss', loss_poisoned_at({2}, first_signal))
    monkeypatch.setattr(checkpoint_module.torch, 'save', save_with_a_second_signal)
    result = tmp_path / 'r'
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101'), *TINY,
                        '--result_path', result, '--n_epochs', 3, '--no_val', '--checkpoint', 5)
    assert code == 130 and 'Traceback' not in err
    assert err.strip().endswith('stopped at once')
    assert load_checkpoint(str(result / 'interrupted.pth'))['epoch'] == 1
    assert [p for p in os.listdir(result) if p.endswith('.tmp')] == []


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=hst.one_of(hst.text(max_size=70), hst.floats().map(repr),
                       hst.integers(-10 ** 30, 10 ** 30).map(str)))
def test_fuzzed_n_frames_contents_read_or_fail_cleanly(tmp_path_factory, text):
    import math
    from datasets.annotations import LIMITS, read_number
    path = tmp_path_factory.getbasetemp() / 'n_frames'
    path.write_text(text)
    try:
        value = read_number(str(path), 'number of frames')
    except UserError as e:
        assert str(path) in str(e)
        return
    assert math.isfinite(value) and abs(value) <= LIMITS['number of frames']


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=hst.lists(hst.one_of(
    hst.integers(0, 10 ** 12).map(lambda n: f'image_{n:05d}.jpg'),
    hst.text(hst.characters(blacklist_characters='/\x00'), min_size=1, max_size=30),
    hst.from_regex(r'image_[0-9\u0660-\u0669]{1,12}\.jpg', fullmatch=True)), max_size=8))
def test_any_file_names_in_a_frame_folder_index_or_skip_the_video(tmp_path_factory, names):
    from datasets.activitynet import missing_frames
    from datasets.annotations import DamagedFolder
    folder = tmp_path_factory.mktemp('frames')
    written = set()
    for name in names:
        try:
            (folder / name).write_bytes(b'')
            written.add(name)
        except (OSError, ValueError):  # a name this file system refuses
            pass
    try:
        holes = missing_frames(str(folder))
    except DamagedFolder as e:
        assert str(folder) in str(e)
        return
    present = {int(n[6:-4]) for n in written if n.startswith('image_') and n.endswith('.jpg')
               and n[6:-4].isascii() and n[6:-4].isdigit() and len(n[6:-4]) <= 9}
    last = max(present, default=0)
    assert holes[-1] == last + 1
    assert set(holes.tolist()) == set(range(1, last + 2)) - present

checkpoint_values = hst.recursive(
    hst.none() | hst.booleans() | hst.integers(-2 ** 70, 2 ** 70) | hst.floats() |
    hst.text(max_size=5) | hst.builds(lambda n: torch.zeros(n), hst.integers(0, 3)),
    lambda children: hst.lists(children, max_size=3) | hst.dictionaries(
        hst.sampled_from(['epoch', 'arch', 'state_dict', 'optimizer', 'rng', 'fc.weight']),
        children, max_size=4),
    max_leaves=8)


@pytest.mark.slow
@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=hst.dictionaries(hst.sampled_from(
    ['epoch', 'arch', 'state_dict', 'optimizer', 'scheduler', 'scaler', 'rng', 'trained']),
    checkpoint_values, max_size=6))
def test_fuzzed_checkpoint_contents_load_or_fail_cleanly(tmp_path_factory, content):
    path = tmp_path_factory.getbasetemp() / 'fuzzed.pth'
    torch.save(content, path)
    try:
        checkpoint = load_checkpoint(str(path))
    except UserError:
        return
    assert isinstance(checkpoint['state_dict'], dict)
    assert all(isinstance(v, torch.Tensor) for v in checkpoint['state_dict'].values())
    assert checkpoint.get('epoch') is None or 1 <= checkpoint['epoch'] <= 10 ** 6
