"""What a careless command or a changed file meets: one line naming the file or value and
what to do, no traceback, nothing already written lost; data that changed under a run is
damaged data, not a crash."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT, TINY, assert_one_line_error, data_flags, run_cli, ucf_like
from tests.datagen import video_file_layout, write_video_file

MODEL = ['--model_depth', '10', '--resnet_shortcut', 'A', '--n_classes', '3', '--no_cuda',
         '--sample_size', '32', '--sample_duration', '8', '--n_threads', '0']


def run_inference(capsys, *args):
    """inference.py in this process; returns (exit code, stdout, stderr)."""
    import inference
    try:
        inference.main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def tiny_model(path, n_classes=3):
    from models.factory import build_model
    from models.registry import ModelSpec
    torch.manual_seed(0)
    model = build_model(ModelSpec(depth=10, n_classes=n_classes, sample_size=32,
                                  sample_duration=8, shortcut='A'))
    torch.save({'arch': 'resnet-10', 'state_dict': model.state_dict()}, path)
    return path


def script(name, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'utils_scripts', name),
                           *map(str, args)], capture_output=True, text=True, timeout=120)


# -- main.py -------------------------------------------------------------------------------

@pytest.mark.parametrize('n_classes', [400, 2])
def test_model_outputs_other_than_the_classes_are_refused_before_anything_runs(
        tmp_path, capsys, n_classes):
    """The default --n_classes 400 on a 3-class set used to train the whole run and then
    crash in the test pass; fewer outputs than classes cannot learn them all."""
    video_path, annotation_path = ucf_like(tmp_path)
    result = tmp_path / 'r'
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101', n_classes),
                        *TINY, '--result_path', result, '--n_epochs', 1, '--test')
    assert_one_line_error(code, err, f'has 3 classes but the model outputs {n_classes}',
                          'set --n_classes 3')
    assert not result.exists() or not any(result.iterdir())


# -- video files that change under a run -------------------------------------------------

def test_a_video_shorter_than_when_it_was_indexed_gives_damaged_clips(tmp_path):
    from datasets import UCF101
    from datasets.decoding_errors import DamagedFrame
    from datasets.videodataset import DamagedClip
    video_path, annotation_path = video_file_layout(str(tmp_path), ['a'],
                                                    [('a', 'training', 20)])
    dataset = UCF101(video_path, annotation_path, 'training', 0, sample_duration=8)
    assert len(dataset) == 3  # windows at frames 1, 9, 17
    write_video_file(os.path.join(video_path, 'a', 'v000.mp4'), 10)  # replaced, shorter
    with pytest.raises(DamagedFrame, match='did not decode: the file ends early or changed'):
        dataset[2]
    dataset.skip_damaged = True
    damaged = dataset[2]
    assert isinstance(damaged, DamagedClip) and damaged.reason.startswith('short')


def test_broken_links_and_link_loops_among_video_files_are_skipped_and_named(tmp_path,
                                                                               capsys):
    from datasets import UCF101
    video_path, annotation_path = video_file_layout(
        str(tmp_path), ['a'], [('a', 'training', 10), ('a', 'training', 10),
                               ('a', 'training', 10)])
    folder = os.path.join(video_path, 'a')
    os.remove(os.path.join(folder, 'v001.mp4'))
    os.symlink(os.path.join(folder, 'gone.mp4'), os.path.join(folder, 'v001.mp4'))
    os.remove(os.path.join(folder, 'v002.mp4'))
    os.symlink(os.path.join(folder, 'v002.mp4'), os.path.join(folder, 'v002.mp4'))
    dataset = UCF101(video_path, annotation_path, 'training', sample_duration=8)
    assert [dataset.video_ids[i] for i in range(len(dataset.video_ids))] == ['v000']
    err = capsys.readouterr().err
    assert 'v001.mp4' in err and 'v002.mp4' in err and 'Traceback' not in err


def write_vfr_video(path):
    """30 frames of solid colours (red = FRAME_STEP * frame number from 1) shown at
    (N + 3 [N >= 10] + 2 [N >= 20]) / 25 s for frame N from 0 (as the muxer rounds them):
    two gaps, as a phone that drops frames records."""
    import numpy as np
    from tests.datagen import FRAME_STEP
    frames = np.zeros((30, 48, 64, 3), np.uint8)
    frames[..., 0] = (np.arange(1, 31) * FRAME_STEP)[:, None, None]
    frames[..., 2] = 100
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'rawvideo',
                    '-pix_fmt', 'rgb24', '-s', '64x48', '-r', '25', '-i', '-', '-vf',
                    "setpts='(N + 3 * gte(N, 10) + 2 * gte(N, 20)) / 25 / TB'",
                    '-fps_mode', 'passthrough', '-c:v', 'libx264', '-pix_fmt', 'yuv420p',
                    '-bf', '0', '-g', '4', '-an', str(path)], input=frames.tobytes(),
                   check=True)
    return str(path)


def frame_times(path):
    """The presentation times of a video's frames, in order, as ffprobe reads them."""
    done = subprocess.run(['ffprobe', '-v', 'error', '-select_streams', 'v', '-show_entries',
                           'frame=pts_time', '-of', 'csv=p=0', path], capture_output=True,
                          text=True, check=True)
    return sorted(float(line.strip(',')) for line in done.stdout.split() if line.strip(','))


def numbers_shown(frames):
    from tests.datagen import FRAME_STEP
    return [round(float(f[0, 0, 0]) / FRAME_STEP) for f in frames]


def test_clips_of_a_variable_frame_rate_video_are_the_frames_the_index_numbers(tmp_path):
    """main.py's clip loader seeks by time; on a variable-rate file that lands on other
    frames, so it seeks exactly there: clip k holds frames k ... k + d - 1."""
    from datasets.video_files import OPEN_VIDEO, video_file_loader
    path = write_vfr_video(tmp_path / 'vfr.mp4')
    for start in range(1, 24):
        numbers = list(range(start, start + 8))
        assert numbers_shown(video_file_loader(path, numbers)) == numbers, start
    assert path in OPEN_VIDEO.irregular
    assert numbers_shown(video_file_loader(path, [20, 3, 11])) == [20, 3, 11]
    constant = str(tmp_path / 'cfr.mp4')
    write_video_file(constant, 30)
    assert numbers_shown(video_file_loader(constant, list(range(12, 20)))) == \
        list(range(12, 20))
    assert constant not in OPEN_VIDEO.irregular  # a constant rate keeps the fast seeking


def test_resampling_a_variable_frame_rate_video_follows_its_timestamps(tmp_path):
    """inference.py --fps: output frame k shows what is on screen at k / fps."""
    from datasets.video_files import VideoFile
    path = write_vfr_video(tmp_path / 'vfr.mp4')
    times = frame_times(path)
    steps = {round((b - a) * 25) for a, b in zip(times, times[1:])}
    assert steps - {1}, steps  # gaps: a variable rate
    video = VideoFile(path, fps=25)
    assert video.n_frames == 35  # ticks of 1/25 s from the first frame to the end
    shown = [frame for _, frame in video.frames()]
    expected = [max(n for n, t in enumerate(times) if t <= k / 25 + 1e-6) + 1
                for k in range(35)]
    assert numbers_shown(shown) == expected
    assert numbers_shown([frame for _, frame in VideoFile(path, fps=10).frames()]) == \
        [max(n for n, t in enumerate(times) if t <= k / 10 + 1e-6) + 1 for k in range(14)]


# -- checkpoints ---------------------------------------------------------------------------

@pytest.mark.parametrize('content', [b'{"results": {}}\n', bytes(range(256)) * 8])
def test_a_file_that_is_no_checkpoint_is_called_so(tmp_path, content):
    from models.checkpoint import load_checkpoint
    from utils import UserError
    path = tmp_path / 'model.pth'
    path.write_bytes(content)
    with pytest.raises(UserError, match='is not a PyTorch checkpoint') as caught:
        load_checkpoint(str(path))
    assert 'arbitrary code' not in str(caught.value)
    done = script('trust_checkpoint.py', path)
    assert done.returncode == 1 and 'Traceback' not in done.stderr
    assert 'is not a PyTorch checkpoint' in done.stderr


# -- the evaluation programs -----------------------------------------------------------------

def annotation(tmp_path):
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps({'labels': ['a', 'b'], 'database': {
        'v1': {'subset': 'validation', 'annotations': {'label': 'a'}}}}))
    return path


@pytest.mark.parametrize('kind, fragment', [
    ('features', 'is not a result file'),
    ('annotation', 'is not a result file'),
    ('empty', 'holds no results'),
    ('folder', 'is a folder'),
    ('binary', 'is not a text file'),
])
def test_evaluation_refuses_what_is_no_result_file(tmp_path, kind, fragment):
    ann = annotation(tmp_path)
    given = tmp_path / 'given.json'
    if kind == 'features':
        given.write_text(json.dumps({'v1': {'file': 'v1.npy', 'segments': [[1, 8]], 'fps': 25}}))
    elif kind == 'annotation':
        given = ann
    elif kind == 'empty':
        given.write_text('{"results": {}}')
    elif kind == 'folder':
        given.mkdir()
    else:
        given.write_bytes(bytes(range(256)))
    done = script('eval_ucf101.py', ann, given)
    assert done.returncode == 1 and 'Traceback' not in done.stderr
    assert fragment in done.stderr and str(given) in done.stderr
    assert 'accuracy' not in done.stdout


def test_evaluation_refuses_top_k_0(tmp_path):
    ann = annotation(tmp_path)
    done = script('eval_ucf101.py', ann, ann, '--top_k', 0)
    assert done.returncode == 2 and 'must be a positive integer' in done.stderr


# -- inference.py ----------------------------------------------------------------------------

@pytest.fixture
def clip_folder(tmp_path):
    """Two small videos and a tiny 3-class model."""
    for i in range(2):
        write_video_file(str(tmp_path / 'in' / f'clip{i}.mp4'), 10, i, size=(40, 32))
    return tmp_path / 'in', tiny_model(tmp_path / 'model.pth')


def test_a_list_that_lists_itself_is_one_line(tmp_path, capsys, clip_folder):
    videos, model = clip_folder
    listing = tmp_path / 'all.txt'
    other = tmp_path / 'other.txt'
    listing.write_text(f'{videos / "clip0.mp4"}\nother.txt\n')
    other.write_text('all.txt\n')
    code, _, err = run_inference(capsys, listing, '--output', tmp_path / 'out',
                                 '--resume_path', model, *MODEL)
    assert_one_line_error(code, err, 'lists itself')


def test_list_files_take_a_byte_order_mark_and_indented_comments(tmp_path, capsys,
                                                                  clip_folder):
    videos, model = clip_folder
    listing = tmp_path / 'list.txt'
    listing.write_bytes(b'\xef\xbb\xbf' + f'{videos / "clip0.mp4"}\n   # a note\n'.encode())
    names = tmp_path / 'names.txt'
    names.write_text('#1 jump\nrun\nswim\n')  # a class name may start with #
    code, _, err = run_inference(capsys, listing, '--output', tmp_path / 'out',
                                 '--resume_path', model, '--class_names', names, *MODEL)
    assert code == 0, err
    results = json.loads((tmp_path / 'out' / 'results.json').read_text())['results']
    assert list(results) == ['clip0']
    assert {r['label'] for r in results['clip0']} <= {'#1 jump', 'run', 'swim'}


def test_a_rerun_with_other_class_names_scores_again(tmp_path, capsys, clip_folder):
    videos, model = clip_folder
    out = tmp_path / 'out'
    for names in (['a', 'b', 'c'], ['x', 'y', 'z']):
        path = tmp_path / 'names.txt'
        path.write_text('\n'.join(names) + '\n')
        code, _, err = run_inference(capsys, videos / 'clip0.mp4', '--output', out,
                                     '--resume_path', model, '--class_names', path, *MODEL)
        assert code == 0, err
        labels = {r['label'] for r in json.loads((out / 'results.json').read_text())
                  ['results']['clip0']}
        assert labels <= set(names), labels


def test_the_summary_lists_every_video_done_in_the_folder(tmp_path, capsys, clip_folder):
    videos, model = clip_folder
    out = tmp_path / 'out'
    for name in ('clip0.mp4', 'clip1.mp4'):  # two runs, other inputs
        code, _, err = run_inference(capsys, videos / name, '--output', out,
                                     '--resume_path', model, *MODEL)
        assert code == 0, err
    assert sorted(json.loads((out / 'results.json').read_text())['results']) == \
        ['clip0', 'clip1']


def test_a_second_run_into_a_busy_output_folder_refuses(tmp_path, capsys, clip_folder):
    import result_folder
    videos, model = clip_folder
    out = tmp_path / 'out'
    with result_folder.held(str(out), '--output'):  # another run holds it
        code, _, err = run_inference(capsys, videos, '--output', out, '--resume_path', model,
                                     *MODEL)
    assert_one_line_error(code, err, f'--output {out} is in use by a run still going')
    assert not (out / 'results.json').exists()


def test_an_output_that_is_a_file_is_one_line(tmp_path, capsys, clip_folder):
    videos, model = clip_folder
    out = tmp_path / 'out.json'
    out.write_text('precious')
    code, _, err = run_inference(capsys, videos, '--output', out, '--resume_path', model,
                                 *MODEL)
    assert_one_line_error(code, err, f'--output {out} is a file, not a folder')
    assert out.read_text() == 'precious'


# -- checkpoints record what they were trained with -------------------------------------------

@pytest.fixture
def trained(tmp_path, capsys):
    """A checkpoint of a 1-epoch run at 32 x 32 x 8 clips, and its data."""
    video_path, annotation_path = ucf_like(tmp_path / 'data', classes=('jump', 'run', 'swim'))
    result = tmp_path / 'r'
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101'), *TINY,
                        '--result_path', result, '--n_epochs', 1, '--no_val')
    assert code == 0, err
    return result / 'save_1.pth', video_path


def test_checkpoints_record_the_model_and_clip_options(trained):
    from models.checkpoint import load_checkpoint
    settings = load_checkpoint(str(trained[0]))['settings']
    assert settings['sample_size'] == 32 and settings['sample_duration'] == 8
    assert settings['model_depth'] == 10 and settings['resnet_shortcut'] == 'A'
    assert settings['n_classes'] == 3 and settings['class_names'] == ['jump', 'run', 'swim']


def test_inference_needs_no_flags_for_a_checkpoint_that_records_them(tmp_path, capsys,
                                                                     trained):
    checkpoint, video_path = trained
    folder = os.path.join(video_path, 'run')
    video = os.path.join(folder, sorted(os.listdir(folder))[0])
    out = tmp_path / 'out'
    code, _, err = run_inference(capsys, video, '--output', out, '--resume_path', checkpoint,
                                 '--no_cuda', '--n_threads', 0)
    assert code == 0, err
    assert 'warning' not in err
    results = json.loads((out / 'results.json').read_text())['results']
    name = os.path.basename(video)
    assert {r['label'] for r in results[name]} == {'jump', 'run', 'swim'}
    flags = ['--model_depth', 10, '--resnet_shortcut', 'A', '--n_classes', 3, '--sample_size',
             32, '--sample_duration', 8, '--no_cuda', '--n_threads', 0]
    code, _, err = run_inference(capsys, video, '--output', tmp_path / 'explicit',
                                 '--resume_path', checkpoint, *flags)
    assert code == 0, err
    assert json.loads((tmp_path / 'explicit' / 'results.json').read_text())['results'] == \
        results


def test_other_clip_options_than_the_checkpoints_are_said(tmp_path, capsys, trained):
    checkpoint, video_path = trained
    folder = os.path.join(video_path, 'run')
    video = os.path.join(folder, sorted(os.listdir(folder))[0])
    code, _, err = run_inference(capsys, video, '--output', tmp_path / 'out', '--resume_path',
                                 checkpoint, '--sample_size', 48, '--no_cuda', '--n_threads', 0)
    assert code == 0, err
    assert f'warning: {checkpoint} was trained with --sample_size 32; this run uses ' \
           '--sample_size 48' in err
    annotation = os.path.join(os.path.dirname(video_path), 'annotation.json')
    code, err = run_cli(capsys, '--video_path', video_path, '--annotation_path', annotation,
                        '--dataset', 'ucf101', '--n_classes', 3, *TINY, '--sample_duration',
                        16, '--result_path', tmp_path / 'r2', '--resume_path', checkpoint,
                        '--n_epochs', 2, '--no_val')
    assert code == 0, err
    assert f'warning: {checkpoint} was trained with --sample_duration 8; this run uses ' \
           '--sample_duration 16' in err


def test_a_second_test_pass_keeps_the_earlier_results(tmp_path, capsys, trained):
    checkpoint, video_path = trained
    annotation = os.path.join(os.path.dirname(video_path), 'annotation.json')
    result = tmp_path / 'tests'
    flags = ['--video_path', video_path, '--annotation_path', annotation, '--dataset',
             'ucf101', '--n_classes', 3, *TINY, '--result_path', result, '--resume_path',
             checkpoint, '--no_train', '--no_val', '--test']
    assert run_cli(capsys, *flags)[0] == 0
    first = (result / 'val.json').read_text()
    code, _ = run_cli(capsys, *flags)
    assert code == 0
    kept = [p for p in os.listdir(result) if p.startswith('val_') and p.endswith('.json')]
    assert len(kept) == 1 and (result / kept[0]).read_text() == first
    assert (result / 'val.json').exists()


def test_each_epoch_says_its_loss_and_accuracy_on_the_console(tmp_path, capsys):
    video_path, annotation_path = ucf_like(tmp_path)
    from tests.conftest import run_main
    run_main(*data_flags(video_path, annotation_path, 'ucf101'), *TINY, '--result_path',
             tmp_path / 'r', '--n_epochs', 2)
    out = capsys.readouterr().out
    train = [line for line in out.splitlines() if line.startswith('train epoch ')]
    val = [line for line in out.splitlines() if line.startswith('val epoch ')]
    assert [line.split(':')[0] for line in train] == ['train epoch 1', 'train epoch 2']
    assert [line.split(':')[0] for line in val] == ['val epoch 1', 'val epoch 2']
    logged = (tmp_path / 'r' / 'train.log').read_text().splitlines()[1].split('\t')
    assert train[0] == (f'train epoch 1: loss {float(logged[1]):.4f}, acc '
                        f'{float(logged[2]):.3f}, lr {float(logged[3]):g}')


# -- data preparation ------------------------------------------------------------------------

@pytest.mark.parametrize('program', ['video_reencode.py', 'video_jpg_ucf101_hmdb51.py'])
def test_two_videos_that_would_write_one_place_are_refused_up_front(tmp_path, program):
    src = tmp_path / 'src' / 'a'
    src.mkdir(parents=True)
    (src / 'clip.mp4').write_bytes(b'not decoded: refused before')
    (src / 'clip.webm').write_bytes(b'not decoded: refused before')
    done = script(program, tmp_path / 'src', tmp_path / 'dst')
    assert done.returncode == 2 and 'Traceback' not in done.stderr
    assert 'clip.mp4' in done.stderr and 'clip.webm' in done.stderr
    assert 'would both be written to' in done.stderr
    assert not (tmp_path / 'dst').exists()


def test_the_ucf101_extractor_takes_class_folders_of_mp4(tmp_path):
    write_video_file(str(tmp_path / 'src' / 'jump' / 'v1.mp4'), 6)
    done = script('video_jpg_ucf101_hmdb51.py', tmp_path / 'src', tmp_path / 'jpg')
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(os.listdir(tmp_path / 'jpg' / 'jump' / 'v1')) == 6


@pytest.fixture
def ucf_lists(tmp_path):
    folder = tmp_path / 'lists'
    folder.mkdir()
    (folder / 'classInd.txt').write_text('1 Apply Eye Makeup\n2 Jump\n')
    return folder


@pytest.mark.parametrize('train, test, fragment', [
    ('Jump/v_a.avi 2\nJump/v_b.avi 2\n', 'Jump/v_a.avi\n', 'v_a is listed twice'),
    ('Jump/v_a.avi 2\nJump/v_a.avi 2\n', 'Jump/v_c.avi\n', 'v_a is listed twice'),
    ('v_a.avi 2\n', 'Jump/v_c.avi\n', 'line 1: expected "<class>/<video file>"'),
    ('Swim/v_a.avi 2\n', 'Jump/v_c.avi\n', "class 'Swim' is not in classInd.txt"),
])
def test_ucf101_json_names_the_line_of_a_bad_list(ucf_lists, train, test, fragment):
    (ucf_lists / 'trainlist01.txt').write_text(train)
    (ucf_lists / 'testlist01.txt').write_text(test)
    done = script('ucf101_json.py', ucf_lists)
    assert done.returncode == 1 and 'Traceback' not in done.stderr
    assert fragment in done.stderr
    assert not (ucf_lists / 'ucf101_01.json').exists()


def test_ucf101_json_takes_spaces_and_backslashes(ucf_lists):
    (ucf_lists / 'trainlist01.txt').write_text('Apply Eye Makeup\\v_a.avi 1\nJump/v_b.avi 2\n')
    (ucf_lists / 'testlist01.txt').write_text('Jump/v_c.avi\n')
    done = script('ucf101_json.py', ucf_lists)
    assert done.returncode == 0, done.stderr
    data = json.loads((ucf_lists / 'ucf101_01.json').read_text())
    assert data['labels'] == ['Apply Eye Makeup', 'Jump']
    assert data['database']['v_a']['annotations']['label'] == 'Apply Eye Makeup'
    assert data['database']['v_c']['subset'] == 'validation'


@pytest.mark.parametrize('program, fragment', [
    ('ucf101_json.py', 'no classInd.txt in'),
    ('hmdb51_json.py', 'no <class>_test_splitN.txt files in'),
    ('n_frames_ucf101_hmdb51.py', 'no frame folders in'),
])
def test_preparation_programs_pointed_at_the_wrong_folder_say_so(tmp_path, program, fragment):
    (tmp_path / 'elsewhere' / 'x').mkdir(parents=True)
    done = script(program, tmp_path / 'elsewhere')
    assert done.returncode == 1 and 'Traceback' not in done.stderr
    assert fragment in done.stderr


def test_kinetics_json_names_a_row_with_an_empty_time(tmp_path):
    header = 'label,youtube_id,time_start,time_end,split\n'
    (tmp_path / 'train.csv').write_text(header + 'jump,abc,1,11,train\njump,abd,,10,train\n')
    (tmp_path / 'val.csv').write_text(header + 'jump,abe,0,10,val\n')
    (tmp_path / 'test.csv').write_text('youtube_id,time_start,time_end,split\nabf,0,10,test\n')
    done = script('kinetics_json.py', tmp_path / 'train.csv', tmp_path / 'val.csv',
                  tmp_path / 'test.csv', tmp_path / 'k.json')
    assert done.returncode == 1 and 'Traceback' not in done.stderr
    assert f"{tmp_path / 'train.csv'} line 3: time_start '' is not a number" in done.stderr
    assert not (tmp_path / 'k.json').exists()


def test_mpeg_streams_are_refused_when_indexed_naming_the_re_encoder(tmp_path, capsys):
    """torchcodec fails near the end of MPEG program and transport streams: such files are
    named when the index is built, with the program that converts them, instead of giving
    damaged clips through the run."""
    from datasets import UCF101
    video_path, annotation_path = video_file_layout(
        str(tmp_path), ['a'], [('a', 'training', 30), ('a', 'training', 30),
                               ('a', 'training', 30)])
    folder = os.path.join(video_path, 'a')
    for key, ext in (('v001', '.mpg'), ('v002', '.ts')):
        os.remove(os.path.join(folder, f'{key}.mp4'))
        subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                        'testsrc2=size=64x48:rate=25', '-frames:v', '40', '-g', '8',
                        os.path.join(folder, key + ext)], check=True)
    dataset = UCF101(video_path, annotation_path, 'training', 0, sample_duration=8)
    assert [dataset.video_ids[i] for i in range(len(dataset.video_ids))] == ['v000']
    err = capsys.readouterr().err
    for name in ('v001.mpg', 'v002.ts'):
        line = next(line for line in err.splitlines() if name in line)
        assert 'MPEG program or transport stream' in line
        assert 'utils_scripts/video_reencode.py' in line


def test_a_folder_where_the_video_index_goes_is_named_not_blamed_on_the_disk(tmp_path, capsys):
    from datasets import UCF101
    from datasets.video_index import cache_path
    video_path, annotation_path = video_file_layout(str(tmp_path), ['a'],
                                                    [('a', 'training', 10)])
    os.makedirs(cache_path(annotation_path, video_path))
    UCF101(video_path, annotation_path, 'training', sample_duration=8)
    err = capsys.readouterr().err
    assert 'a folder of that name is in the way' in err and 'disk' not in err


def test_a_folder_mixing_frame_folders_and_video_files_is_said(tmp_path, capsys):
    from datasets import UCF101
    from tests.datagen import labelled_layout
    videos = [('a', 'training', 10)] * 4
    video_path, annotation_path = labelled_layout(str(tmp_path), ['a'], videos)  # frames
    for key in ('v002', 'v003'):  # two of them as video files instead
        shutil.rmtree(os.path.join(video_path, 'a', key))
        write_video_file(os.path.join(video_path, 'a', f'{key}.mp4'), 10)
    dataset = UCF101(video_path, annotation_path, 'training', sample_duration=8)
    assert len(dataset.video_ids) == 2
    captured = capsys.readouterr()
    assert 'skipped 2 of 4 videos with no frame folder' in captured.out
    assert 'warning: 2 of the first 2 skipped are video files' in captured.err
    assert 'mixes frame folders and video files' in captured.err


def test_an_audio_file_and_a_video_changing_size_are_said_in_plain_words(tmp_path):
    from datasets.decoding_errors import VideoError
    from datasets.video_files import VideoFile
    audio = str(tmp_path / 'song.mp4')
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    'sine=frequency=440:duration=1', audio], check=True)
    with pytest.raises(VideoError, match='has no video stream'):
        VideoFile(audio)
    parts = []
    for i, size in enumerate(('64x48', '96x64')):
        parts.append(str(tmp_path / f'part{i}.ts'))
        subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                        f'testsrc2=size={size}:rate=25', '-t', '0.5', parts[-1]], check=True)
    resized = str(tmp_path / 'resized.mkv')
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-i',
                    f'concat:{"|".join(parts)}', '-c', 'copy', resized], check=True)
    with pytest.raises(VideoError, match='changes its frame size partway through'):
        list(VideoFile(resized).frames())


def test_file_names_that_are_not_utf8_are_read_and_listed(tmp_path, capsys):
    """Archives from Latin-1 systems: the video is read, and a damaged one is listed in
    failed.txt by its bytes."""
    model = tiny_model(tmp_path / 'model.pth')
    folder = tmp_path / 'in'
    write_video_file(str(folder / 'good.mp4'), 10)
    os.rename(folder / 'good.mp4', os.path.join(os.fsencode(folder), b'caf\xe9.mp4'))
    with open(os.path.join(os.fsencode(folder), b'na\xefve.mp4'), 'wb') as f:
        f.write(b'not a video')
    out = tmp_path / 'out'
    code, _, err = run_inference(capsys, folder, '--output', out, '--resume_path', model,
                                 *MODEL)
    assert code == 1 and 'Traceback' not in err  # one video failed
    results = json.loads((out / 'results.json').read_text())['results']
    assert list(results) == [os.fsdecode(b'caf\xe9')]
    assert (out / 'failed.txt').read_bytes() == \
        os.path.join(os.fsencode(folder), b'na\xefve.mp4') + b'\n'


@pytest.mark.parametrize('given, fragment', [
    ('-', 'not standard input or URLs'),
    ('https://example.org/v.mp4', 'not standard input or URLs'),
    ('fifo', 'is not a file or folder (a pipe or a device?)'),
])
def test_standard_input_urls_and_pipes_are_said_to_be_no_files(tmp_path, capsys, given,
                                                                fragment):
    model = tiny_model(tmp_path / 'model.pth')
    if given == 'fifo':
        os.mkfifo(tmp_path / 'fifo')
        given = str(tmp_path / 'fifo')
    code, _, err = run_inference(capsys, given, '--output', tmp_path / 'out', '--resume_path',
                                 model, *MODEL)
    assert_one_line_error(code, err, fragment)


def test_evaluation_reads_inference_names_of_class_folder_trees(tmp_path):
    """inference.py on ucf101_videos/ names a video `Jump/v_a`; main.py's test JSON `v_a`:
    the evaluation programs take both."""
    ann = annotation(tmp_path)
    results = tmp_path / 'results.json'
    results.write_text(json.dumps({'results': {'a/v1': [{'label': 'a', 'score': 0.9}]},
                                   'clips': {}}))
    done = script('eval_ucf101.py', ann, results)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'top-1 video accuracy: 1.000 (1/1)'


def test_a_video_of_tiny_frames_is_refused_when_indexed(tmp_path, capsys):
    from datasets import UCF101
    video_path, annotation_path = video_file_layout(
        str(tmp_path), ['a'], [('a', 'training', 10), ('a', 'training', 10)])
    write_video_file(os.path.join(video_path, 'a', 'v001.mp4'), 10, size=(2, 2))
    dataset = UCF101(video_path, annotation_path, 'training', sample_duration=8)
    assert len(dataset.video_ids) == 1
    assert 'v001.mp4: its frames are 2x2 pixels, too small' in capsys.readouterr().err


def test_a_failed_name_with_a_line_break_stays_one_line_of_failed_txt(tmp_path, capsys):
    model = tiny_model(tmp_path / 'model.pth')
    folder = tmp_path / 'in'
    folder.mkdir()
    (folder / 'two\nlines.mp4').write_bytes(b'not a video')
    code, _, err = run_inference(capsys, folder, '--output', tmp_path / 'out', '--resume_path',
                                 model, *MODEL)
    assert code == 1 and 'Traceback' not in err
    assert (tmp_path / 'out' / 'failed.txt').read_text().splitlines() == \
        [f'{folder}/two\\nlines.mp4']
