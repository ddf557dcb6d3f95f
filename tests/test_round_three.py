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
    """SIGINT while every job's ffmpeg is at work (an ffmpeg that never ends, first on the
    PATH): the program ends them and the queue, exits 130 within a couple of seconds with
    one line, leaves no partial folder; the next run, with the real ffmpeg, does them all."""
    import signal
    import time
    src = tmp_path / 'videos' / 'walk'
    src.mkdir(parents=True)
    for k in range(6):
        make_video(src / f'v{k}.mp4', seconds=1)
    stuck = tmp_path / 'bin'
    stuck.mkdir()
    (stuck / 'ffmpeg').write_text('#!/bin/sh\nexec sleep 60\n')
    (stuck / 'ffmpeg').chmod(0o755)
    command = [sys.executable, os.path.join(SCRIPTS, 'video_jpg_ucf101_hmdb51.py'),
               str(tmp_path / 'videos'), str(tmp_path / 'jpg'), '--n_jobs', '2']
    env = dict(os.environ, PATH=f'{stuck}{os.pathsep}{os.environ["PATH"]}')
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    time.sleep(1.5)
    stopped = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert time.monotonic() - stopped < 3, 'it went on extracting'
    assert process.returncode == 130 and 'Traceback' not in err, err
    assert err.count('\n') == 1 and 'redone by the next run' in err
    assert not list((tmp_path / 'jpg' / 'walk').glob('*'))  # nothing half-written
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert '6 videos extracted, 0 already done' in again.stdout


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


# -- what a run says and trains ----------------------------------------------------------

@pytest.mark.slow
def test_a_single_clip_last_batch_is_trained_where_the_network_can(tmp_path, capsys):
    """9 training clips in batches of 2: at 64x64x16 ResNet-10's last feature map is 2x2x1
    and the ninth clip is trained, as the releases train it; at 32x32x8 it is 1x1x1, and
    the clip is left out, said once."""
    from tests.conftest import data_flags, read_log, run_main, ucf_like
    video_path, annotation_path = ucf_like(tmp_path)
    common = [*data_flags(video_path, annotation_path, 'ucf101'), '--no_cuda', '--n_threads',
              0, '--model_depth', 10, '--resnet_shortcut', 'A', '--batch_size', 2, '--no_val',
              '--n_epochs', 1]
    run_main(*common, '--sample_size', 64, '--sample_duration', 16, '--result_path',
             tmp_path / 'big')
    assert [row[1] for row in read_log(tmp_path / 'big' / 'train_batch.log')[1:]] == \
        ['1', '2', '3', '4', '5']
    assert 'left out' not in capsys.readouterr().out
    run_main(*common, '--sample_size', 32, '--sample_duration', 8, '--result_path',
             tmp_path / 'small')
    assert len(read_log(tmp_path / 'small' / 'train_batch.log')) - 1 == 4
    out = capsys.readouterr().out
    assert out.count('would be a single clip') == 1 and 'resnet-10' in out


@pytest.mark.slow
def test_a_resumed_run_takes_its_model_and_clips_from_the_checkpoint(tmp_path, capsys):
    """No model or clip flag: the checkpoint records them; one line says what was taken."""
    from tests.conftest import TINY, data_flags, read_log, run_main, ucf_like
    video_path, annotation_path = ucf_like(tmp_path)
    data = data_flags(video_path, annotation_path, 'ucf101')
    run_main(*data, *TINY, '--n_epochs', 1, '--result_path', tmp_path / 'r')
    capsys.readouterr()
    run_main(*data, '--no_cuda', '--n_threads', 0, '--batch_size', 4, '--n_epochs', 2,
             '--resume_path', tmp_path / 'r' / 'save_1.pth', '--result_path', tmp_path / 'r')
    err = capsys.readouterr().err
    took = [line for line in err.splitlines() if line.startswith('took')]
    assert len(took) == 1 and '--model_depth 10' in took[0] and '--sample_size 32' in took[0]
    assert '--resnet_shortcut A' in took[0]
    assert [row[0] for row in read_log(tmp_path / 'r' / 'train.log')[1:]] == ['1', '2']


@pytest.mark.slow
def test_the_console_says_the_epoch_of_the_total_and_the_time_left(tmp_path, capsys):
    code, console = tiny_run(tmp_path, capsys, '--n_epochs', 2, '--result_path',
                             tmp_path / 'r', console=True)
    assert code in (0, None), console
    lines = [line for line in console.splitlines() if line.startswith('epoch ')]
    assert lines[0].startswith('epoch 1/2 done; ') and ' an epoch, about ' in lines[0]
    assert lines[0].endswith(' left') and lines[1].startswith('epoch 2/2 done; ')


def test_durations_read_as_a_person_reads_them():
    from utils import counted, duration
    assert [duration(s) for s in (3, 59.6, 725, 18600, 90000)] == \
        ['3 s', '1 min', '12 min 5 s', '5 h 10 min', '1 d 1 h']
    assert (counted(1, 'video'), counted(0, 'video'), counted(3, 'video')) == \
        ('1 video', '0 videos', '3 videos')


@pytest.mark.slow
def test_more_loader_processes_than_cores_are_said_once_in_plain_words(tmp_path):
    from tests.conftest import TINY, data_flags, ucf_like
    video_path, annotation_path = ucf_like(tmp_path)
    workers = (os.cpu_count() or 1) + 1
    flags = [str(f) for f in TINY]
    flags[flags.index('--n_threads') + 1] = str(workers)
    done = subprocess.run([sys.executable, os.path.join(ROOT, 'main.py'),
                           *map(str, data_flags(video_path, annotation_path, 'ucf101')),
                           *flags, '--n_epochs', '1', '--result_path', str(tmp_path / 'r')],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(f'--n_threads {workers} loader processes share') == 1
    assert 'UserWarning' not in done.stderr


def test_a_terminal_of_no_width_gets_lines_not_blank_bars():
    import fcntl
    import struct
    import termios
    from utils import bar_fits
    main_fd, other_fd = os.openpty()
    with os.fdopen(other_fd, 'w') as stream:
        for columns, shown in ((0, False), (80, True)):
            fcntl.ioctl(main_fd, termios.TIOCSWINSZ, struct.pack('HHHH', 24, columns, 0, 0))
            assert bar_fits(stream) is shown
    os.close(main_fd)


def test_an_earlier_run_s_curves_are_moved_aside_with_it(tmp_path):
    import result_folder
    for name in ('save_1.pth', 'train.log', 'curves.png'):
        (tmp_path / name).write_text(name)
    result_folder.move_earlier_run_aside(str(tmp_path))
    kept = [p for p in tmp_path.iterdir() if p.name.startswith('earlier_run_')]
    assert len(kept) == 1 and sorted(p.name for p in kept[0].iterdir()) == [
        'curves.png', 'save_1.pth', 'train.log']


def test_the_preparation_programs_run_from_the_data_folder_by_their_path(tmp_path):
    """As the README shows them: `python $R/utils_scripts/x.py` with paths relative to the
    data folder, run there."""
    src = tmp_path / 'UCF101' / 'Walk'
    src.mkdir(parents=True)
    make_video(src / 'v_Walk_g01_c01.avi')
    lists = tmp_path / 'ucfTrainTestlist'
    lists.mkdir()
    (lists / 'classInd.txt').write_text('1 Walk\n')
    (lists / 'trainlist01.txt').write_text('Walk/v_Walk_g01_c01.avi 1\n')
    (lists / 'testlist01.txt').write_text('')
    for name, args in (('video_jpg_ucf101_hmdb51.py', ['UCF101', 'ucf101_videos/jpg']),
                       ('n_frames_ucf101_hmdb51.py', ['ucf101_videos/jpg']),
                       ('ucf101_json.py', ['ucfTrainTestlist']),
                       ('ucf101_json.py', ['ucfTrainTestlist', 'ucf101_videos/jpg', 'out'])):
        done = script(name, *args, cwd=tmp_path)
        assert done.returncode == 0, (name, done.stderr)
    assert (tmp_path / 'ucf101_videos' / 'jpg' / 'Walk' / 'v_Walk_g01_c01' / 'n_frames').exists()
    assert (lists / 'ucf101_01.json').exists() and (tmp_path / 'out' / 'ucf101_01.json').exists()


@pytest.mark.parametrize('program', ['ucf101_json.py', 'hmdb51_json.py'])
def test_a_destination_that_looks_like_a_file_is_said(tmp_path, program):
    done = script(program, tmp_path, tmp_path / 'jpg', tmp_path / 'ucf101_01.json')
    assert done.returncode == 2 and done.stderr.count('\n') == 1, done.stderr
    assert 'looks like) a file' in done.stderr and 'into a folder' in done.stderr
    assert not (tmp_path / 'ucf101_01.json').exists()


def make_vfr_video(path):
    """40 frames whose spacing changes halfway (1/30 s, then 1/10 s): ffmpeg's image and
    constant-rate outputs would repeat frames to fill the gaps."""
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    'testsrc2=size=160x120:rate=30', '-frames:v', '40', '-vf',
                    "setpts='if(lt(N,20),N/30,(N-20)/10+20/30)/TB'", '-fps_mode', 'vfr',
                    '-c:v', 'libx264', str(path)], check=True)


def test_a_variable_rate_video_keeps_its_frames_through_extraction_and_reencoding(tmp_path):
    from datasets.video_files import VideoFile
    src = tmp_path / 'videos' / 'walk'
    src.mkdir(parents=True)
    make_vfr_video(src / 'phone.mkv')
    assert VideoFile(str(src / 'phone.mkv')).n_frames == 40
    done = script('video_jpg_ucf101_hmdb51.py', tmp_path / 'videos', tmp_path / 'jpg')
    assert done.returncode == 0, done.stdout
    assert len(list((tmp_path / 'jpg' / 'walk' / 'phone').glob('image_*.jpg'))) == 40
    done = script('video_reencode.py', tmp_path / 'videos', tmp_path / 'mp4')
    assert done.returncode == 0, done.stdout
    assert VideoFile(str(tmp_path / 'mp4' / 'walk' / 'phone.mp4')).n_frames == 40


# -- one numbering of a video file's frames in every path -----------------------------------

def make_timed_video(path, setpts, frames=40):
    """A testsrc2 video (a different picture every frame) whose frame N (from 0) is shown at
    `setpts` seconds, every frame kept."""
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    'testsrc2=size=96x64:rate=30', '-frames:v', str(frames), '-vf',
                    f"setpts='({setpts})/TB'", '-fps_mode', 'passthrough', '-c:v', 'libx264',
                    str(path)], check=True)
    return str(path)


# Frame N (from 0) at N/30 s, except an extra frame at 0.25 s after the eighth: seeking frame
# 9 by time (8/30 s) finds the tenth, whose time lies exactly on the grid; the frames after
# are all one late. The last frame ends before 40/30 s, so a duration x rate count falls
# short of it too.
EXTRA_FRAME = 'if(lt(N,8),N/30,if(eq(N,8),0.25,(N-1)/30))'


@pytest.mark.parametrize('setpts,by_time', [
    ('N/30', True), ('N/30+1.5', None),  # a constant rate, from 0 or later
    ('(N+3*gte(N,10)+2*gte(N,20))/30', False),  # dropped frames, as phones record
    ('0.1+N/30-0.004*mod(N,3)', False),  # frames a little early
    (EXTRA_FRAME, False)])
@pytest.mark.parametrize('container', ['mp4', 'mkv'])
def test_seeking_by_time_is_used_only_where_it_finds_every_frame(tmp_path, setpts, by_time,
                                                                  container):
    """The index's answer (from the packets) against what seeking by time decodes for every
    frame: where it says yes, every frame is the one counted."""
    import torch
    from torchcodec.decoders import VideoDecoder
    from datasets.video_files import VideoFile, scan_video
    path = make_timed_video(tmp_path / f'v.{container}', setpts, frames=41)
    exact = VideoDecoder(path, seek_mode='exact')
    frames = exact.get_frames_in_range(0, len(exact)).data
    wrong = []
    for k in range(len(exact)):
        try:
            found = VideoDecoder(path, seek_mode='approximate').get_frames_at([k]).data[0]
            wrong += [] if torch.equal(found, frames[k]) else [k]
        except (IndexError, RuntimeError, ValueError):  # past what seeking by time reaches
            wrong.append(k)
    facts, opened = scan_video(path), VideoFile(path)  # the index's facts, inference's
    assert facts[:4] == (opened.n_frames, opened.source_fps, opened.width, opened.height)
    answer = facts.by_time
    assert answer == (not wrong), wrong
    if container == 'mp4' and by_time is not None:  # Matroska's millisecond times may fall
        assert answer == by_time                     # short of 41 frames


def test_the_index_says_an_audio_file_has_no_video_stream(tmp_path):
    from datasets.decoding_errors import VideoError
    from datasets.video_files import scan_video
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i',
                    'sine=frequency=440:duration=1', str(tmp_path / 'voice.mp4')], check=True)
    with pytest.raises(VideoError) as e:
        scan_video(str(tmp_path / 'voice.mp4'))
    assert e.value.reason == 'has no video stream (an audio file?)'


@pytest.mark.slow
def test_the_test_pass_and_inference_score_irregular_videos_alike(tmp_path):
    """A video with an extra frame, one with dropped frames, and a constant-rate Matroska
    file whose rounded times fall short of its last frame: main.py's test pass decodes clip
    by clip, inference.py every frame in order, and both give the same scores."""
    import torch
    from models import resnet
    from tests.conftest import TINY, run_main
    videos = {'a': ('extra.mkv', EXTRA_FRAME), 'b': ('phone.mp4', '(N+3*gte(N,10))/30'),
              'c': ('short.mkv', 'N/30')}
    database = {}
    for label, (name, setpts) in videos.items():
        os.makedirs(tmp_path / 'videos' / label)
        make_timed_video(tmp_path / 'videos' / label / name, setpts, frames=43)
        database[name.split('.')[0]] = {'subset': 'validation', 'annotations': {'label': label}}
    annotation = tmp_path / 'ann.json'
    annotation.write_text(json.dumps({'labels': list(videos), 'database': database}))
    torch.manual_seed(0)
    torch.save({'arch': 'resnet-10', 'state_dict': resnet.build(
        10, shortcut_type='A', sample_size=32, sample_duration=8, num_classes=3).state_dict()},
        tmp_path / 'model.pth')
    run_main('--video_path', tmp_path / 'videos', '--annotation_path', annotation, '--dataset',
             'ucf101', '--n_classes', 3, *TINY, '--result_path', tmp_path / 'test',
             '--no_train', '--no_val', '--test', '--resume_path', tmp_path / 'model.pth')
    assert not (tmp_path / 'test' / 'bad_frames.log').exists()  # every clip decoded
    tested = json.loads((tmp_path / 'test' / 'val.json').read_text())['results']
    import inference
    with pytest.raises(SystemExit) as done:
        inference.main([str(tmp_path / 'videos'), '--output', str(tmp_path / 'out'),
                        '--resume_path', str(tmp_path / 'model.pth'), '--annotation_path',
                        str(annotation), *map(str, TINY)])
    assert done.value.code == 0
    inferred = {name.split('/')[1]: top for name, top in  # named label/video there
                json.loads((tmp_path / 'out' / 'results.json').read_text())['results'].items()}
    assert sorted(tested) == sorted(inferred) == ['extra', 'phone', 'short']
    for video, top in tested.items():
        scores = {t['label']: t['score'] for t in inferred[video]}
        assert [t['score'] for t in top] == pytest.approx(
            [scores[t['label']] for t in top], abs=1e-6), video


# -- class names for the published models -----------------------------------------------------

def class_names_script(capsys, *args):
    """utils_scripts/class_names.py in this process: (exit status, stderr)."""
    from utils_scripts import class_names
    try:
        class_names.main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = 1 if isinstance(e.code, str) else e.code
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
    return code, capsys.readouterr().err


def test_class_names_are_written_in_the_order_the_releases_number_them(tmp_path, capsys):
    """Kinetics' training CSV in order of first appearance (not sorted: the 2020 release's
    kinetics_json order, which its Kinetics-700 models follow), Moments in Time's categories
    in their order, an annotation file in main.py's; the file reads back as --class_names."""
    from datasets.class_names import class_names_for
    (tmp_path / 'train.csv').write_text(
        'label,youtube_id,time_start,time_end,split\n'
        'testifying,---QUuC4vJs,84,94,train\nwashing feet,--GkrdYZ9Tc,0,10,train\n'
        '"massaging person\'s head",--nQbRBEz2s,104,114,train\ntestifying,-0AbC,1,11,train\n')
    (tmp_path / 'moments_categories.txt').write_text('clapping,0\npraying,1\ndropping,2\n')
    (tmp_path / 'ann.json').write_text(json.dumps({'labels': ['zebra', 'apple'], 'database': {
        'v': {'subset': 'training', 'annotations': {'label': 'apple', 'segment': [1, 9]}}}}))
    expected = {'train.csv': ['testifying', 'washing feet', "massaging person's head"],
                'moments_categories.txt': ['clapping', 'praying', 'dropping'],
                'ann.json': ['zebra', 'apple']}
    for source, names in expected.items():
        code, err = class_names_script(capsys, tmp_path / source, tmp_path / f'{source}.txt')
        assert code == 0 and not err, err
        assert (tmp_path / f'{source}.txt').read_text().splitlines() == names
        assert class_names_for(len(names), str(tmp_path / f'{source}.txt')) == names


def test_a_kinetics_700_csv_of_another_order_than_the_published_models_is_said(tmp_path,
                                                                                capsys):
    rows = [f'class {i:03d},id{i},0,10,train' for i in range(700)]
    (tmp_path / 'train.csv').write_text('label,youtube_id,time_start,time_end,split\n'
                                        + '\n'.join(rows) + '\n')
    code, err = class_names_script(capsys, tmp_path / 'train.csv', tmp_path / 'k700.txt')
    assert code == 0
    assert err.count('\n') == 1 and 'slicing onion, jetskiing' in err
    assert len((tmp_path / 'k700.txt').read_text().splitlines()) == 700


@pytest.mark.parametrize('source,output,said', [
    ('missing.csv', 'out.txt', 'missing.csv is not a file'),
    ('notes.txt', 'out.txt', 'neither a Kinetics CSV'),
    ('train.csv', 'no_folder/out.txt', 'does not exist: make it first')])
def test_the_class_names_script_refuses_in_one_line(tmp_path, capsys, source, output, said):
    (tmp_path / 'notes.txt').write_text('some notes\nnothing like classes\n')
    (tmp_path / 'train.csv').write_text('label,youtube_id,time_start,time_end\na,x,0,1\n')
    code, err = class_names_script(capsys, tmp_path / source, tmp_path / output)
    assert code == 1 and err.count('\n') == 1, err
    assert said in err
    assert not (tmp_path / output).exists()


def test_a_model_without_class_names_says_how_to_give_them():
    from datasets.class_names import class_names_for
    said = []
    assert class_names_for(700, say=said.append) == [str(i) for i in range(700)]
    assert len(said) == 1 and '--class_names' in said[0] and 'class_names.py' in said[0]
    assert class_names_for(400, say=said.append)[:2] == ['abseiling', 'air drumming']
    assert len(said) == 1  # Kinetics-400's names need no word
