"""Training and testing straight from video files (--video_path holding videos in the frame
folders' layouts), the video index cache, damaged videos, and utils_scripts/video_reencode.py.
Needs ffmpeg (to make the videos)."""
import json
import os
import random
import shutil
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT, TINY, clips_of, data_flags, dataset_of, run_cli, run_main
from tests.datagen import (FRAME_STEP, activitynet_layout, labelled_layout, video_file_layout,
                           write_video_file)

pytestmark = pytest.mark.skipif(shutil.which('ffmpeg') is None, reason='needs ffmpeg')

VIDEOS = [('a', 'training', 10), ('a', 'training', 12), ('b', 'training', 11),
          ('b', 'training', 13), ('a', 'validation', 20), ('b', 'validation', 9),
          ('a', 'testing', 14)]


def frame_numbers_of(clip, step=FRAME_STEP):
    """The frame number each frame of a C x T x H x W clip of a generated video shows."""
    return [round(v / step) for v in clip[0, :, 0, 0].tolist()]


@pytest.mark.slow
@pytest.mark.parametrize('dataset,ext', [('ucf101', '.mp4'), ('kinetics', '.avi')])
def test_training_and_test_from_video_files(tmp_path, capsys, dataset, ext):
    kinetics = dataset == 'kinetics'
    videos = VIDEOS if kinetics else VIDEOS[:-1]
    video_path, annotation_path = video_file_layout(str(tmp_path), ['a', 'b'], videos, ext,
                                                    kinetics=kinetics)
    result = tmp_path / 'r'
    run_main(*data_flags(video_path, annotation_path, dataset, 2), *TINY, '--result_path',
             result, '--n_epochs', 1, '--test', '--n_threads', 1,
             *(['--test_subset', 'test'] if kinetics else []))
    out = capsys.readouterr().out
    assert 'skipped' not in out
    written = 'test.json' if kinetics else 'val.json'
    results = json.loads((result / written).read_text())['results']
    expected = {'v006'} if kinetics else {'v004', 'v005'}
    assert set(results) == expected
    assert (result / 'save_1.pth').exists() and len((result / 'val.log').read_text().split('\n')) > 2


def test_activitynet_segments_from_video_files(tmp_path, capsys):
    from datasets import ActivityNet
    from datasets.video_files import video_file_loader
    video_path, annotation_path = activitynet_layout(
        str(tmp_path), [('training', 25, 25.0, [('run', 0.2, 0.8)]),
                        ('validation', 20, 25.0, [('jump', 0.0, 0.6)])])
    shutil.rmtree(video_path)
    for i, n in enumerate((25, 20)):
        write_video_file(os.path.join(video_path, f'v_a{i:03d}.mp4'), n, i)
    train = ActivityNet(video_path, annotation_path, 'training', 1, sample_duration=4)
    assert train.input_format == 'videos'
    # Segment 0.2 s - 0.8 s at 25 fps: frames ceil(5) ... ceil(20) - 1, as with frame folders.
    assert train.target_record(0)['frame_indices'] == list(range(5, 20))
    test = ActivityNet(video_path, annotation_path, 'validation', 0, sample_duration=4,
                       untrimmed=True)
    record = test.target_record(len(test) - 1)
    assert record['segment'] == [1, 20]
    frames = video_file_loader(record['video'], record['frame_indices'])
    assert [round(f[0, 0, 0].item() / FRAME_STEP) for f in frames] == record['frame_indices']


def test_the_video_loaders_give_the_frames_asked_for(tmp_path):
    """In the order asked, repeats included: a run of consecutive frames longer than the
    decoder's chunk, frames out of order, and one box of them."""
    from datasets.video_files import CHUNK
    from datasets.video_files import video_file_loader, video_file_pil_loader
    path = str(tmp_path / 'v.mp4')
    write_video_file(path, 30, 0)
    runs = [list(range(3, 3 + 2 * CHUNK + 3)), [9, 2, 20, 20, 5], [4, 5, 4, 5]]
    for numbers in runs:
        frames = video_file_loader(path, numbers)
        assert [round(f[0, 0, 0].item() / FRAME_STEP) for f in frames] == numbers
        images = video_file_pil_loader(path, numbers)
        assert [round(im.getpixel((0, 0))[0] / FRAME_STEP) for im in images] == numbers
        assert images[0].size == (64, 48)
        cropped = video_file_loader(path, numbers, box=(10, 4, 30, 20))
        assert cropped[0].shape == (3, 16, 20)
        assert [round(f[0, 0, 0].item() / FRAME_STEP) for f in cropped] == numbers


def test_clips_are_the_frames_the_frame_folders_give(tmp_path, make_opt):
    """The same seed picks the same frame numbers from videos as from frame folders, in
    training (random crops), validation (spread clips) and test (windows)."""
    from spatial_transforms import Compose, ToTensor
    import temporal_transforms as tt
    videos = VIDEOS[:-1]
    frames_path, annotation_path = labelled_layout(str(tmp_path), ['a', 'b'], videos)
    video_path, _ = video_file_layout(str(tmp_path), ['a', 'b'], videos)
    plain = Compose([ToTensor(1)])
    passes = [('training', tt.TemporalRandomCrop(8)), ('validation', tt.LoopPadding(8)),
              ('test', tt.LoopPadding(8))]
    for purpose, temporal in passes:
        sets = []
        for path in (frames_path, video_path):
            opt = make_opt(*data_flags(path, annotation_path, 'ucf101', 2), '--sample_duration',
                           8, '--n_val_samples', 2)
            sets.append(dataset_of(opt, purpose, (plain, temporal, None)))
        from_frames, from_videos = sets
        assert (from_frames.input_format, from_videos.input_format) == ('frames', 'videos')
        assert len(from_frames) == len(from_videos)
        requested = []
        load_frames = from_frames.loader
        from_frames.loader = lambda folder, numbers: (requested.append(numbers),
                                                      load_frames(folder, numbers))[1]
        for i in range(len(from_frames)):
            random.seed(i)
            from_frames[i]
            random.seed(i)
            shown = frame_numbers_of(from_videos[i][0], FRAME_STEP)
            assert shown == requested[-1], (purpose, i)


@pytest.mark.slow
@pytest.mark.parametrize('flags', [[], ['--fast_training_clips'], ['--train_crop', 'random'],
                                   ['--train_crop', 'center', '--no_hflip']])
def test_training_clips_decode_only_their_crop(tmp_path, make_opt, monkeypatch, flags):
    """A training clip from a video decodes only its crop, and gives the tensors of cropping
    the whole decoded frames: every scale and place, odd sides included (98 x 62 frames)."""
    from datasets import video_files
    from recipes.cvpr2018 import training_transforms
    from spatial_transforms import Compose
    video_path, annotation_path = video_file_layout(str(tmp_path), ['a', 'b'], VIDEOS[:4])
    textured = os.path.join(video_path, 'a', 'v000.mp4')  # testsrc2: detail everywhere
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    'testsrc2=size=98x62:rate=25', '-frames:v', '30', '-c:v', 'libx264',
                    '-pix_fmt', 'yuv420p', '-g', '8', textured], check=True)
    opt = make_opt(*data_flags(video_path, annotation_path, 'ucf101', 2), '--sample_size',
                   24, '--sample_duration', 8, *flags)
    dataset = dataset_of(opt, 'training', training_transforms(clips_of(opt)))
    assert dataset.input_format == 'videos' and dataset.decodes_to_tensors()
    first = [i for i in range(len(dataset)) if dataset.target_record(i)['video'] == textured]
    decoded_sizes = []
    decode = video_files.decode_video_frames

    def spy(path, numbers, box=None, by_time=True):
        frames = decode(path, numbers, box, by_time=by_time)
        decoded_sizes.append(next(iter(frames.values())).shape[:2])
        return frames

    monkeypatch.setattr(video_files, 'decode_video_frames', spy)
    for seed in range(40):
        random.seed(seed)
        cropped = dataset[first[0]][0]
        random.seed(seed)
        with monkeypatch.context() as m:
            m.setattr(Compose, 'decoder_crop_box', lambda self, w, h: None)
            whole = dataset[first[0]][0]
        assert decoded_sizes[-1] == (62, 98)
        assert decoded_sizes[-2][0] == decoded_sizes[-2][1] <= 62, seed  # the square crop
        assert cropped.shape == (3, 8, 24, 24)
        assert torch.equal(cropped, whole), seed
    dataset.frame_sizes[:] = 0  # a container that gives no frame size: whole frames
    assert dataset[first[0]][0].shape == (3, 8, 24, 24) and decoded_sizes[-1] == (62, 98)


def test_the_index_is_cached_and_read_again_when_a_video_changes(tmp_path, monkeypatch,
                                                                 capsys):
    from datasets import UCF101
    from datasets import video_index
    video_path, annotation_path = video_file_layout(str(tmp_path), ['a', 'b'], VIDEOS[:-1])
    opened = []
    read_video_facts = video_index.read_video_facts
    monkeypatch.setattr(video_index, 'read_video_facts', lambda p: opened.append(p) or
                        read_video_facts(p))
    UCF101(video_path, annotation_path, 'training', 1, sample_duration=8)
    assert len(opened) == 4  # the four training videos
    UCF101(video_path, annotation_path, 'validation', 3, sample_duration=8)
    assert len(opened) == 6  # and the two of validation, kept beside them
    cache = [p for p in os.listdir(tmp_path) if p.startswith('annotation.json.videos-')]
    assert len(cache) == 1 and cache[0].endswith('.npz')
    opened.clear()
    UCF101(video_path, annotation_path, 'validation', 3, sample_duration=8)
    dataset = UCF101(video_path, annotation_path, 'training', 1, sample_duration=8)
    assert opened == [] and dataset.target_record(0)['frame_indices'] == list(range(1, 11))
    assert dataset.frame_sizes.tolist() == [[64, 48]] * 4  # width, height, from the cache
    changed = os.path.join(video_path, 'a', 'v000.mp4')
    write_video_file(changed, 7, 0)
    dataset = UCF101(video_path, annotation_path, 'training', 1, sample_duration=8)
    assert opened == [changed]
    assert dataset.target_record(0)['frame_indices'] == list(range(1, 8))
    # A damaged cache is rebuilt, silently.
    (tmp_path / cache[0]).write_bytes(b'PK\x03\x04 not a zip archive')
    opened.clear()
    UCF101(video_path, annotation_path, 'training', 1, sample_duration=8)
    assert len(opened) == 4 and 'Traceback' not in capsys.readouterr().err


@pytest.mark.slow
def test_a_damaged_video_is_skipped_and_reported(tmp_path, capsys):
    video_path, annotation_path = video_file_layout(str(tmp_path), ['a', 'b'], VIDEOS[:-1])
    damaged = os.path.join(video_path, 'b', 'v002.mp4')
    with open(damaged, 'r+b') as f:
        f.truncate(os.path.getsize(damaged) // 2)
    result = tmp_path / 'r'
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101', 2), *TINY,
                        '--result_path', result, '--n_epochs', 1, '--batch_size', 3)
    assert code == 0, err
    assert f'skipped {damaged}: cannot be decoded' in err
    assert 'Traceback' not in err


@pytest.mark.slow
def test_a_video_damaged_during_the_run_leaves_its_clips_out(tmp_path, capsys, monkeypatch):
    video_path, annotation_path = video_file_layout(str(tmp_path), ['a', 'b'], VIDEOS[:-1])
    damaged = os.path.join(video_path, 'a', 'v001.mp4')
    from recipes.cvpr2018 import RECIPE as cvpr2018
    build = cvpr2018.training_set

    def build_then_damage(*args, **kwargs):
        dataset = build(*args, **kwargs)
        with open(damaged, 'r+b') as f:  # keeps its header: the video opens, frames fail
            f.seek(os.path.getsize(damaged) // 3)
            f.write(b'\0' * (os.path.getsize(damaged) // 3))
        return dataset

    monkeypatch.setattr(cvpr2018, 'training_set', build_then_damage)
    result = tmp_path / 'r'
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101', 2), *TINY,
                        '--result_path', result, '--n_epochs', 1, '--batch_size', 3,
                        '--max_bad_clips', 1, '--no_val')
    assert code == 0, err
    rows = (result / 'bad_frames.log').read_text().splitlines()[1:]
    assert len(rows) == 1 and rows[0].split('\t')[2] == damaged
    assert 'Traceback' not in err


def test_input_format_can_be_forced(tmp_path, capsys):
    frames_path, annotation_path = labelled_layout(str(tmp_path), ['a', 'b'], VIDEOS[:-1])
    with pytest.raises(SystemExit) as stop:
        run_main(*data_flags(frames_path, annotation_path, 'ucf101', 2), *TINY,
                 '--result_path', tmp_path / 'r', '--input_format', 'videos')
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and 'no usable video' in err
    assert 'skipped 4 of 4 videos with no video file under' in out
    video_path, annotation_path = video_file_layout(str(tmp_path / 'v'), ['a', 'b'],
                                                    VIDEOS[:-1])
    with pytest.raises(SystemExit) as stop:
        run_main(*data_flags(video_path, annotation_path, 'ucf101', 2), *TINY,
                 '--result_path', tmp_path / 'r', '--input_format', 'frames')
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and 'skipped 4 of 4 videos with no frame folder' in out


# -- utils_scripts/video_reencode.py ------------------------------------------------------

def ffprobe(path, entries):
    out = subprocess.run(['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-show_entries',
                          entries, '-of', 'csv=p=0', path], capture_output=True, text=True,
                         check=True).stdout
    # One line per stream or frame; a frame's side data adds empty fields and lines.
    return [[field for field in line.split(',') if field] for line in out.splitlines()
            if line.strip(', ')]


def reencode(*args):
    return subprocess.run([sys.executable, 'utils_scripts/video_reencode.py', *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True)


def test_reencoding_scales_the_short_side_and_spaces_key_frames(tmp_path):
    src = tmp_path / 'src'
    write_video_file(str(src / 'a' / 'wide.mp4'), 30, 0, size=(64, 48))
    write_video_file(str(src / 'a' / 'tall.avi'), 30, 1, size=(48, 80))
    (src / 'a' / 'notes.txt').write_text('not a video')
    done = reencode(src, tmp_path / 'dst', '--short_side', 32, '--key_every', 8)
    assert done.returncode == 0, done.stderr
    assert '2 videos re-encoded' in done.stdout
    assert ffprobe(str(tmp_path / 'dst' / 'a' / 'wide.mp4'), 'stream=width,height') == \
        [['42', '32']]
    assert ffprobe(str(tmp_path / 'dst' / 'a' / 'tall.mp4'), 'stream=width,height') == \
        [['32', '54']]
    keys = ffprobe(str(tmp_path / 'dst' / 'a' / 'wide.mp4'), 'frame=key_frame')
    assert [i for i, row in enumerate(keys) if row[0] == '1'] == [0, 8, 16, 24]
    assert ffprobe(str(tmp_path / 'dst' / 'a' / 'wide.mp4'), 'stream=codec_type') == \
        [['video']]


@pytest.mark.slow
def test_reencoding_tunes_for_fast_decoding_unless_told(tmp_path):
    """x264 records its settings in the stream: fastdecode turns CABAC and the deblocking
    filter off."""
    src = tmp_path / 'src'
    write_video_file(str(src / 'v.mp4'), 12, 0)
    settings = {}
    for tune in ('fastdecode', 'none', 'film,fastdecode'):
        done = reencode(src, tmp_path / tune, *([] if tune == 'fastdecode' else
                                               ['--tune', tune]))
        assert done.returncode == 0, done.stderr
        settings[tune] = (tmp_path / tune / 'v.mp4').read_bytes()
    assert b'cabac=0' in settings['fastdecode'] and b'deblock=0' in settings['fastdecode']
    assert b'cabac=1' in settings['none'] and b'deblock=1' in settings['none']
    assert b'cabac=0' in settings['film,fastdecode']
    done = reencode(src, tmp_path / 'bad', '--tune', 'fastdecode,speedy')
    assert done.returncode == 2 and "unknown x264 tune 'speedy'" in done.stderr
    assert 'Traceback' not in done.stderr and not (tmp_path / 'bad').exists()


def test_reencoding_resumes_and_reports_failures(tmp_path):
    src, dst = tmp_path / 'src', tmp_path / 'dst'
    for name in ('v1', 'v2'):
        write_video_file(str(src / f'{name}.mp4'), 10, 0)
    done = reencode(src, dst)
    assert done.returncode == 0 and '2 videos re-encoded' in done.stdout
    first = (dst / 'v1.mp4').stat().st_mtime_ns
    (dst / 'v2.mp4').unlink()
    (dst / 'v2.partial.mp4').write_bytes(b'left by an interrupted run')
    (src / 'v3.mp4').write_bytes(b'not a video')
    done = reencode(src, dst)
    assert done.returncode == 1
    assert '1 video re-encoded, 1 already done, 1 failed' in done.stdout
    assert f'failed: {src / "v3.mp4"}' in done.stdout
    assert (dst / 'v1.mp4').stat().st_mtime_ns == first
    assert ffprobe(str(dst / 'v2.mp4'), 'stream=nb_frames') == [['10']]
    assert sorted(os.listdir(dst)) == ['v1.mp4', 'v2.mp4']


def test_many_videos_are_indexed_by_parallel_processes(tmp_path):
    from datasets import Kinetics
    from datasets import video_index
    one = tmp_path / 'one.mp4'
    write_video_file(str(one), 9, 0)
    database = {}
    for i in range(40):  # past the number that starts processes
        os.makedirs(tmp_path / 'videos' / 'a', exist_ok=True)
        os.link(one, tmp_path / 'videos' / 'a' / f'k{i:02d}.mp4')
        database[f'k{i:02d}'] = {'subset': 'training', 'annotations': {'label': 'a'}}
    annotation = tmp_path / 'annotation.json'
    annotation.write_text(json.dumps({'labels': ['a'], 'database': database}))
    dataset = Kinetics(str(tmp_path / 'videos'), str(annotation), 'training', 1)
    assert len(dataset) == 40
    assert {dataset.target_record(i)['frame_indices'][-1] for i in range(40)} == {9}
    cached = video_index.load_cache(video_index.cache_path(str(annotation),
                                                           str(tmp_path / 'videos')))
    assert len(cached) == 40 and {entry[2] for entry in cached.values()} == {9}
