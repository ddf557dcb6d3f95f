"""inference.py: videos straight from files (and frame folders) to scores or features."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.conftest import ROOT, TINY, data_flags, run_main, ucf_like
from models.registry import ModelSpec

MODEL = ['--model_depth', 10, '--resnet_shortcut', 'A', '--n_classes', 3, '--no_cuda',
         '--sample_size', 32, '--sample_duration', 8, '--n_threads', 0, '--batch_size', 4]


def make_video(path, size, rate, frames, codec='libx264', source='testsrc2'):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    f'{source}=size={size}:rate={rate}', '-frames:v', str(frames), '-c:v', codec,
                    '-pix_fmt', 'yuv420p', path], check=True)


def save_model(path, depth=10, n_classes=3):
    from models.factory import build_model
    from opts import parse_opts
    opt = parse_opts(['--no_cuda', '--model_depth', str(depth), '--resnet_shortcut',
                      'A' if depth < 50 else 'B', '--sample_size', '32',
                      '--sample_duration', '8'])
    torch.manual_seed(depth)
    model = build_model(ModelSpec.from_options(opt), n_classes)
    torch.save({'arch': f'resnet-{depth}', 'state_dict': model.state_dict()}, path)
    return path


def inference(*args, cwd=ROOT, env=None):
    done = subprocess.run([sys.executable, os.path.join(ROOT, 'inference.py'),
                           *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=None if env is None else {**os.environ, **env})
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    """Three codecs, sizes and rates, a truncated file and a frame folder."""
    root = tmp_path_factory.mktemp('videos')
    make_video(str(root / 'in' / 'h264.mp4'), '320x240', 25, 60)
    make_video(str(root / 'in' / 'sub' / 'mpeg4.avi'), '176x144', 15, 20, codec='mpeg4')
    make_video(str(root / 'in' / 'sub' / 'vp9.webm'), '160x120', 30, 30, codec='libvpx-vp9')
    make_video(str(root / 'short.mp4'), '128x96', 10, 5)
    whole = (root / 'in' / 'h264.mp4').read_bytes()
    (root / 'in' / 'truncated.mp4').write_bytes(whole[:len(whole) // 3])
    os.makedirs(root / 'in' / 'frames')
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-i',
                    str(root / 'in' / 'h264.mp4'), '-frames:v', '12',
                    str(root / 'in' / 'frames' / 'image_%05d.jpg')], check=True)
    return root


def expected_clips(n_frames, stride):
    return len(range(1, max(n_frames, 2), stride))


@pytest.mark.slow
def test_scores_from_every_kind_of_input_and_failed_videos_named(tmp_path, videos):
    model = save_model(tmp_path / 'model.pth')
    out = tmp_path / 'out'
    code, stdout, stderr = inference(videos / 'in', '--output', out, '--resume_path', model,
                                     *MODEL)
    assert code == 1, stderr  # one video could not be read
    assert 'truncated.mp4' in stderr and 'Traceback' not in stderr
    assert (out / 'failed.txt').read_text() == f'{videos / "in" / "truncated.mp4"}\n'
    results = json.loads((out / 'results.json').read_text())
    frames = {'h264': 60, 'sub/mpeg4': 20, 'sub/vp9': 30, 'frames': 12}
    assert sorted(results['results']) == sorted(frames)
    for name, n_frames in frames.items():
        top = results['results'][name]
        assert [t['label'] for t in top] and len(top) == 3  # top_k 5, but 3 classes
        assert sum(t['score'] for t in top) == pytest.approx(1, abs=1e-5)
        clips = results['clips'][name]
        assert len(clips) == expected_clips(n_frames, 8)
        assert clips[0]['segment'] == [1, min(8, n_frames)]
        assert clips[-1]['segment'][1] == n_frames or n_frames % 8 == 1
        # the video's score is the mean of its clips' softmax: the best clip score bounds it
        assert max(c['score'] for c in clips) >= top[0]['score'] - 1e-6


@pytest.mark.slow
def test_a_video_shorter_than_a_clip_gives_one_padded_clip(tmp_path, videos):
    model = save_model(tmp_path / 'model.pth')
    code, _, stderr = inference(videos / 'short.mp4', '--output', tmp_path / 'out',
                                '--resume_path', model, *MODEL)
    assert code == 0, stderr
    results = json.loads((tmp_path / 'out' / 'results.json').read_text())
    assert [c['segment'] for c in results['clips']['short']] == [[1, 5]]


def test_scores_equal_the_test_pass_on_frame_folders(tmp_path):
    video_path, annotation_path = ucf_like(tmp_path / 'data', val=2)
    flags = [*data_flags(video_path, annotation_path, 'ucf101'), *TINY]
    run_main(*flags, '--result_path', tmp_path / 'train', '--n_epochs', 1)
    checkpoint = tmp_path / 'train' / 'save_1.pth'
    run_main(*flags, '--result_path', tmp_path / 'test', '--no_train', '--no_val', '--test',
             '--resume_path', checkpoint)
    expected = json.loads((tmp_path / 'test' / 'val.json').read_text())['results']
    validation = [os.path.join(video_path, label, key) for label in 'abc'
                  for key in os.listdir(os.path.join(video_path, label)) if key in expected]
    (tmp_path / 'videos.txt').write_text('\n'.join(validation) + '\n')
    code, _, stderr = inference(tmp_path / 'videos.txt', '--output', tmp_path / 'out',
                                '--resume_path', checkpoint, '--annotation_path',
                                annotation_path, '--top_k', 3, *MODEL)
    assert code == 0, stderr
    results = json.loads((tmp_path / 'out' / 'results.json').read_text())['results']
    assert sorted(results) == sorted(expected) and len(results) == 6
    for video, top in results.items():
        assert [t['label'] for t in top] == [t['label'] for t in expected[video]]
        assert [t['score'] for t in top] == pytest.approx(
            [t['score'] for t in expected[video]], abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize('depth,width', [(10, 512), (50, 2048)])  # BasicBlock, Bottleneck
def test_features_are_the_pooled_activations_before_the_classifier(tmp_path, videos, depth,
                                                                     width):
    model = save_model(tmp_path / 'model.pth', depth)
    flags = ['--resume_path', model, *MODEL, '--model_depth', depth, '--resnet_shortcut',
             'A' if depth < 50 else 'B']
    video = videos / 'in' / 'sub' / 'mpeg4.avi'
    code, _, stderr = inference(video, '--output', tmp_path / 'f', '--mode', 'feature', *flags)
    assert code == 0, stderr
    index = json.loads((tmp_path / 'f' / 'features.json').read_text())
    assert index == {'mpeg4': {'file': 'mpeg4.npy', 'segments': [[1, 8], [9, 16], [17, 20]],
                               'fps': 15.0}}
    features = np.load(tmp_path / 'f' / 'mpeg4.npy')
    assert features.dtype == np.float32 and features.shape == (3, width)
    # The classifier applied to the features gives the score mode's clip classes.
    code, _, stderr = inference(video, '--output', tmp_path / 's', *flags)
    assert code == 0, stderr
    clips = json.loads((tmp_path / 's' / 'results.json').read_text())['clips']['mpeg4']
    fc = torch.load(model)['state_dict']
    scores = torch.softmax(torch.from_numpy(features) @ fc['fc.weight'].T + fc['fc.bias'], 1)
    assert [str(i) for i in scores.argmax(1).tolist()] == [c['label'] for c in clips]
    assert scores.max(1).values.tolist() == pytest.approx([c['score'] for c in clips],
                                                          abs=1e-5)


@pytest.mark.slow
def test_fps_and_stride_choose_the_windows(tmp_path, videos):
    model = save_model(tmp_path / 'model.pth')
    code, _, stderr = inference(videos / 'in' / 'h264.mp4', '--output', tmp_path / 'out',
                                '--resume_path', model, *MODEL, '--mode', 'feature',
                                '--fps', 10, '--stride', 4)
    assert code == 0, stderr
    entry = json.loads((tmp_path / 'out' / 'features.json').read_text())['h264']
    # 60 frames at 25 fps are 2.4 s: 24 frames at 10 fps; windows of 8 every 4 frames.
    assert entry['fps'] == 10.0
    assert entry['segments'] == [[1, 8], [5, 12], [9, 16], [13, 20], [17, 24], [21, 24]]


def test_resampling_picks_the_frame_on_screen():
    from datasets.video_files import resampled
    assert resampled(60, 25.0, 10).tolist() == [int(k * 2.5) for k in range(24)]
    assert resampled(10, 10.0, 20).tolist() == [k // 2 for k in range(20)]
    assert resampled(7, 30.0).tolist() == list(range(7))


@pytest.mark.slow
def test_a_rerun_skips_what_is_done_and_redoes_what_changed(tmp_path, videos):
    model = save_model(tmp_path / 'model.pth')
    out = tmp_path / 'out'
    flags = [videos / 'in' / 'sub', '--output', out, '--resume_path', model, *MODEL,
             '--mode', 'feature']
    assert inference(*flags)[0] == 0
    stamps = {name: os.stat(out / name).st_mtime_ns for name in ('mpeg4.npy', 'vp9.npy')}
    code, stdout, _ = inference(*flags)
    assert code == 0 and '2 of 2 videos are already done' in stdout
    assert {name: os.stat(out / name).st_mtime_ns for name in stamps} == stamps
    assert sorted(json.loads((out / 'features.json').read_text())) == ['mpeg4', 'vp9']
    code, stdout, _ = inference(*flags, '--stride', 4)  # other windows: done again
    assert code == 0 and 'already done' not in stdout
    assert all(os.stat(out / name).st_mtime_ns != stamps[name] for name in stamps)
    code, stdout, _ = inference(*flags, '--stride', 4, '--overwrite')
    assert code == 0 and 'already done' not in stdout


@pytest.mark.slow
@pytest.mark.parametrize('case', ['missing_input', 'empty_folder', 'bad_flag', 'missing_model',
                                  'wrong_classes', 'same_name'])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, videos, case):
    model = save_model(tmp_path / 'model.pth')
    out = tmp_path / 'out'
    args = [videos / 'short.mp4', '--output', out, '--resume_path', model, *MODEL]
    expect = []
    if case == 'missing_input':
        args[0], expect = tmp_path / 'nothing.mp4', ['input not found', 'nothing.mp4']
    elif case == 'empty_folder':
        (tmp_path / 'empty').mkdir()
        args[0], expect = tmp_path / 'empty', ['no video files or frame folders']
    elif case == 'bad_flag':
        args += ['--stride', 0]
        expect = ['--stride']
    elif case == 'missing_model':
        args[4], expect = tmp_path / 'gone.pth', ['checkpoint not found', 'gone.pth']
    elif case == 'wrong_classes':
        args += ['--n_classes', 7]
        expect = ['3 classes', '--n_classes 3']
    elif case == 'same_name':
        (tmp_path / 'other').mkdir()
        (tmp_path / 'other' / 'short.mp4').write_bytes((videos / 'short.mp4').read_bytes())
        args.insert(1, tmp_path / 'other' / 'short.mp4')
        expect = ['both be written as', "'short'"]
    code, stdout, stderr = inference(*args)
    assert code == 2
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and 'Traceback' not in stderr, stderr
    assert all(fragment in lines[0] for fragment in expect), lines[0]
    assert not out.exists()


@pytest.mark.slow
def test_memory_stays_flat_on_a_long_video(tmp_path):
    """Clips of a 3000-frame video take no more memory than those of a 300-frame one: only
    the frames of the windows not yet complete are held."""
    probe = '''
import resource, sys
sys.path.insert(0, {root!r})
from datasets.clip_stream import ClipStream, Source
from recipes.cvpr2018 import RECIPE, test_transforms
from opts import parse_opts
opt = parse_opts(['--no_cuda', '--sample_size', '32', '--sample_duration', '8'])
spatial = test_transforms(RECIPE.clip_settings(opt))[0]
stream = ClipStream([Source('v', sys.argv[1], False)], spatial, 8, 8)
n = sum(1 for item in stream if item.error is None)
print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
'''.format(root=ROOT)
    peaks = {}
    for n_frames in (300, 3000):
        path = str(tmp_path / f'{n_frames}.mp4')
        make_video(path, '160x120', 25, n_frames)
        done = subprocess.run([sys.executable, '-c', probe, path], capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        clips, peak_kb = map(int, done.stdout.split())
        assert clips == expected_clips(n_frames, 8)
        peaks[n_frames] = peak_kb
    # All 3000 decoded frames would take 170 MB; the bound leaves room for allocator noise.
    assert peaks[3000] - peaks[300] < 30 * 1024, peaks


@pytest.mark.slow
def test_two_processes_write_what_one_process_writes(tmp_path, videos):
    import socket
    model = save_model(tmp_path / 'model.pth')
    flags = [videos / 'in' / 'sub', videos / 'in' / 'h264.mp4', videos / 'in' / 'frames',
             '--resume_path', model, *MODEL]
    assert inference(*flags, '--output', tmp_path / 'one')[0] == 0
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    done = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
                           '2', '--master_addr', '127.0.0.1', '--master_port', str(port),
                           'inference.py', '--distributed', *map(str, flags), '--output',
                           str(tmp_path / 'two')], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = [json.loads((tmp_path / d / 'results.json').read_text()) for d in ('one', 'two')]
    assert sorted(one['results']) == sorted(two['results']) == ['frames', 'h264', 'mpeg4',
                                                                'vp9']
    for name in one['results']:
        assert [c['segment'] for c in one['clips'][name]] == \
            [c['segment'] for c in two['clips'][name]]
        assert [t['score'] for t in one['results'][name]] == pytest.approx(
            [t['score'] for t in two['results'][name]], abs=1e-5)
