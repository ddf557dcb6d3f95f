"""What a new user of both releases met (round three): silent wrong results, lost files,
misleading messages, each with the behaviour a careful tool has instead."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPTS = os.path.join(ROOT, 'utils_scripts')


def script(name, *args, cwd=None):
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, name), *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def evaluation_files(tmp_path, results):
    annotation = {'labels': ['a', 'b', 'c'], 'database': {
        'v1': {'subset': 'validation', 'annotations': {'label': 'a', 'segment': [1, 20]}},
        'v2': {'subset': 'validation', 'annotations': {'label': 'b', 'segment': [1, 20]}},
        'v3': {'subset': 'validation', 'annotations': {'label': 'c', 'segment': [1, 20]}}}}
    (tmp_path / 'ann.json').write_text(json.dumps(annotation))
    (tmp_path / 'res.json').write_text(json.dumps({'results': results}))
    return tmp_path / 'ann.json', tmp_path / 'res.json'


def window(first, scores):
    return {'segment': [first, first + 8],
            'result': [{'label': label, 'score': value} for label, value in
                       sorted(scores.items(), key=lambda item: -item[1])]}


@pytest.mark.parametrize('program', ['eval_accuracy.py', 'eval_ucf101.py'])
def test_per_window_results_are_averaged_per_video(tmp_path, program):
    """--inference_no_average with --output_topk 0: each window lists every class; the
    mean per video is scored (v1: a wins on the mean though one window says b)."""
    ann, res = evaluation_files(tmp_path, {
        'v1': [window(1, {'a': 0.6, 'b': 0.3, 'c': 0.1}), window(9, {'a': 0.4, 'b': 0.5,
                                                                     'c': 0.1})],
        'v2': [window(1, {'a': 0.2, 'b': 0.7, 'c': 0.1})],
        'v3': [window(1, {'a': 0.5, 'b': 0.1, 'c': 0.4})]})
    done = script(program, ann, res, *(['--subset', 'val'] if program == 'eval_accuracy.py'
                                       else []))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'top-1 video accuracy: 0.667 (2/3)'


def test_per_window_top_classes_are_refused_in_one_line(tmp_path):
    """With the default --output_topk 5 of 3 classes every window lists all; with fewer
    listed the mean cannot be taken: one line says what the file holds."""
    ann, res = evaluation_files(tmp_path, {
        'v1': [window(1, {'a': 0.6}), window(9, {'b': 0.5})],
        'v2': [window(1, {'b': 0.7})], 'v3': [window(1, {'a': 0.5})]})
    done = script('eval_accuracy.py', ann, res, '--subset', 'val')
    assert done.returncode != 0 and done.stdout == ''
    assert done.stderr.count('\n') == 1 and '--inference_no_average' in done.stderr
    assert '--output_topk 0' in done.stderr and 'Traceback' not in done.stderr


@pytest.mark.parametrize('program', ['eval_accuracy.py', 'eval_ucf101.py'])
def test_videos_without_a_result_are_counted_aloud(tmp_path, program):
    ann, res = evaluation_files(tmp_path, {'v1': [{'label': 'a', 'score': 0.9}],
                                           'v2': [{'label': 'b', 'score': 0.8}]})
    subset = ['--subset', 'val'] if program == 'eval_accuracy.py' else []
    done = script(program, ann, res, *subset)
    assert done.stdout.strip() == 'top-1 video accuracy: 0.667 (2/3)'
    assert '1 of the 3 videos' in done.stderr and '--ignore leaves them out' in done.stderr
    done = script(program, ann, res, *subset, '--ignore')
    assert done.stdout.strip() == 'top-1 video accuracy: 1.000 (2/2)'
    assert '1 of the 3 videos' in done.stderr and 'left out' in done.stderr


def test_requirements_met_has_help_and_names_a_missing_file(tmp_path):
    done = script('requirements_met.py', '--help')
    assert done.returncode == 0 and 'requirements' in done.stdout and not done.stderr
    done = script('requirements_met.py', tmp_path / 'none.txt')
    assert done.returncode == 2 and done.stderr.count('\n') == 1
    assert 'none.txt' in done.stderr and 'Traceback' not in done.stderr


# -- main.py: resuming, classes, skipped videos --------------------------------------------

def tiny_run(tmp_path, capsys, *flags, data=None, console=False):
    """main.py on a small UCF-101-like set in this process: (exit code, stderr), or with
    `console` (exit code, stdout and stderr)."""
    from tests.conftest import TINY, data_flags, run_main, ucf_like
    video_path, annotation_path = data or ucf_like(tmp_path)
    try:
        run_main(*data_flags(video_path, annotation_path, 'ucf101'), *TINY, *flags)
        code = 0
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err if console else captured.err


def log_epochs(path):
    from tests.conftest import read_log
    return [row[0] for row in read_log(path)[1:]]


@pytest.mark.slow
def test_resuming_an_earlier_checkpoint_keeps_what_it_would_overwrite(tmp_path, capsys):
    from tests.conftest import ucf_like
    data = ucf_like(tmp_path)
    out = tmp_path / 'r'
    code, err = tiny_run(tmp_path, capsys, '--n_epochs', 3, '--checkpoint', 1,
                         '--result_path', out, data=data)
    assert code in (0, None), err
    second = (out / 'save_2.pth').read_bytes()
    code, err = tiny_run(tmp_path, capsys, '--n_epochs', 3, '--checkpoint', 1,
                         '--learning_rate', 0.05, '--resume_path', out / 'save_1.pth',
                         '--result_path', out, data=data)
    assert code in (0, None), err
    kept = [p for p in out.iterdir() if p.name.startswith('superseded_')]
    assert len(kept) == 1 and (kept[0] / 'save_2.pth').read_bytes() == second
    assert sorted(p.name for p in kept[0].iterdir()) == [
        'save_2.pth', 'save_3.pth', 'train.log', 'train_batch.log', 'val.log']
    assert log_epochs(kept[0] / 'train.log') == ['1', '2', '3']
    for name in ('train.log', 'val.log'):
        assert log_epochs(out / name) == ['1', '2', '3'], name  # one row an epoch
    batches = [tuple(row[:2]) for row in
               __import__('tests.conftest').conftest.read_log(out / 'train_batch.log')[1:]]
    assert len(batches) == len(set(batches))
    assert (out / 'save_2.pth').read_bytes() != second


@pytest.mark.slow
def test_a_resumed_interrupted_pth_is_removed_once_a_later_checkpoint_is_written(
        tmp_path, capsys):
    from tests.conftest import ucf_like
    data = ucf_like(tmp_path)
    out = tmp_path / 'r'
    code, _ = tiny_run(tmp_path, capsys, '--n_epochs', 1, '--result_path', out, data=data)
    os.rename(out / 'save_1.pth', out / 'interrupted.pth')  # as a stop at epoch 2 leaves it
    code, err = tiny_run(tmp_path, capsys, '--n_epochs', 2, '--resume_path',
                         out / 'interrupted.pth', '--result_path', out, data=data)
    assert code in (0, None), err
    assert not (out / 'interrupted.pth').exists() and (out / 'save_2.pth').exists()


@pytest.mark.slow
def test_a_published_model_given_as_resume_path_names_pretrain_path(tmp_path, capsys):
    """A 5-class model resumed with the data's 3 classes: one line that says how to resume it
    and how to fine-tune it, under each recipe; not two contradicting ones."""
    import torch
    from models import resnet
    torch.save({'arch': 'resnet-10', 'state_dict': resnet.build(
        10, shortcut_type='A', sample_size=32, sample_duration=8, num_classes=5).state_dict()},
        tmp_path / 'other.pth')
    from tests.conftest import assert_one_line_error, ucf_like
    data = ucf_like(tmp_path)
    code, err = tiny_run(tmp_path, capsys, '--resume_path', tmp_path / 'other.pth',
                         '--result_path', tmp_path / 'r', data=data)
    assert_one_line_error(code, err, '--n_classes 5', '--pretrain_path',
                          '--n_finetune_classes 3')
    code, err = tiny_run(tmp_path, capsys, '--resume_path', tmp_path / 'other.pth',
                         '--n_classes', 5, '--result_path', tmp_path / 'r', data=data)
    assert_one_line_error(code, err, '--pretrain_path', '--n_finetune_classes 3',
                          'instead of --resume_path')
    assert '--n_classes 3' not in err


def test_skipped_videos_are_named_and_listed(tmp_path, capsys):
    import shutil
    from tests.conftest import ucf_like
    video_path, annotation_path = ucf_like(tmp_path)
    for key in ('v000', 'v004'):
        shutil.rmtree(next(p for p in (tmp_path / 'jpg').glob(f'*/{key}')))
    code, console = tiny_run(tmp_path, capsys, '--n_epochs', 1, '--result_path', tmp_path / 'r',
                             '--no_val', data=(video_path, annotation_path), console=True)
    assert code in (0, None), console
    assert 'skipped 2 of 9 videos with no frame folder' in console
    assert 'a/v000, b/v004' in console and 'skipped_videos.txt' in console
    listed = (tmp_path / 'r' / 'skipped_videos.txt').read_text().splitlines()
    assert sorted(listed) == ['training\ta/v000\tnot found', 'training\tb/v004\tnot found']


# -- the data-preparation programs ------------------------------------------------------

def make_video(path, seconds=2, size='160x120'):
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    f'testsrc2=size={size}:rate=30', '-t', str(seconds), '-pix_fmt', 'yuv420p',
                    str(path)], check=True)


@pytest.mark.slow
def test_ctrl_c_stops_an_extractor_at_once_and_the_next_run_finishes(tmp_path):
    import signal
    import time
    src = tmp_path / 'videos' / 'walk'
    src.mkdir(parents=True)
    for k in range(16):
        make_video(src / f'v{k:02d}.mp4', seconds=8, size='640x360')
    command = [sys.executable, os.path.join(SCRIPTS, 'video_jpg_ucf101_hmdb51.py'),
               str(tmp_path / 'videos'), str(tmp_path / 'jpg'), '--n_jobs', '2']
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    time.sleep(2.0)
    stopped = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert time.monotonic() - stopped < 3, 'it went on extracting'
    assert process.returncode == 130 and 'Traceback' not in err, err
    assert 'stopped' in err and 'redone by the next run' in err
    done = [p for p in (tmp_path / 'jpg' / 'walk').iterdir() if not p.name.endswith('.partial')]
    assert len(done) < 16
    assert not list((tmp_path / 'jpg' / 'walk').glob('*.partial'))
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f'{16 - len(done)} videos extracted, {len(done)} already done' in again.stdout


def test_an_extractor_says_what_is_wrong_with_a_file_in_plain_words(tmp_path):
    src = tmp_path / 'videos' / 'walk'
    src.mkdir(parents=True)
    make_video(src / 'good.mp4')
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    'sine=frequency=440:duration=1', str(src / 'voice.mp4')], check=True)
    (src / 'junk.mp4').write_bytes(os.urandom(2000))
    for program, extra in (('video_jpg_ucf101_hmdb51.py', []), ('video_reencode.py', [])):
        done = script(program, tmp_path / 'videos', tmp_path / program, *extra)
        assert done.returncode == 1
        assert 'voice.mp4: has no video stream (an audio file?)' in done.stdout, done.stdout
        assert 'junk.mp4: is ' in done.stdout and 'trailing' not in done.stdout


def test_a_missing_path_in_an_inference_list_fails_alone(tmp_path, capsys):
    import torch
    from models import resnet
    from tests.datagen import write_footage_frames
    write_footage_frames(str(tmp_path / 'clip'), 20, height=48)
    (tmp_path / 'list.txt').write_text('clip\nmissing_video.mp4\n')
    torch.save({'arch': 'resnet-10', 'state_dict': resnet.build(
        10, shortcut_type='A', sample_size=32, sample_duration=8, num_classes=3).state_dict()},
        tmp_path / 'model.pth')
    import inference
    with pytest.raises(SystemExit) as e:
        inference.main([str(tmp_path / 'list.txt'), '--output', str(tmp_path / 'out'),
                        '--resume_path', str(tmp_path / 'model.pth'), '--model_depth', '10',
                        '--resnet_shortcut', 'A', '--n_classes', '3', '--sample_size', '32',
                        '--sample_duration', '8', '--no_cuda', '--n_threads', '0'])
    assert e.value.code == 1  # some videos failed
    results = json.loads((tmp_path / 'out' / 'results.json').read_text())['results']
    assert list(results) == ['clip']
    failed = (tmp_path / 'out' / 'failed.txt').read_text().splitlines()
    assert failed == [str(tmp_path / 'missing_video.mp4')]
    assert 'missing_video.mp4: not found' in capsys.readouterr().err
