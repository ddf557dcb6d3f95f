"""The 2020 release's data-preparation and evaluation commands, as its README types them
(`python -m utils_scripts.<name> ...`): frames with the shorter side at 240, annotation
files with segments counted from the frames, Moments in Time, its evaluation script."""
import json
import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from tests.conftest import ROOT
from tests.datagen import write_video

pytestmark = pytest.mark.skipif(shutil.which('ffmpeg') is None, reason='needs ffmpeg')


def module(name, *args):
    return subprocess.run([sys.executable, '-m', f'utils_scripts.{name}', *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def make_video(path, size, frames):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i',
                    f'testsrc=size={size}:rate=25', '-frames:v', str(frames), '-pix_fmt',
                    'yuv420p', str(path)], check=True)


@pytest.mark.slow
def test_frames_have_the_shorter_side_at_the_size(tmp_path):
    make_video(tmp_path / 'src' / 'run' / 'wide.mp4', '320x180', 5)
    make_video(tmp_path / 'src' / 'run' / 'tall.avi', '180x320', 4)
    make_video(tmp_path / 'src' / 'test' / 'unlabelled.mp4', '176x144', 3)
    done = module('generate_video_jpgs', tmp_path / 'src', tmp_path / 'jpg', 'kinetics')
    assert done.returncode == 0, done.stderr
    sizes = {name: Image.open(tmp_path / 'jpg' / name / 'image_00001.jpg').size
             for name in ('run/wide', 'run/tall', 'test/unlabelled')}
    assert sizes == {'run/wide': (427, 240), 'run/tall': (240, 427),
                     'test/unlabelled': (293, 240)}
    assert len(os.listdir(tmp_path / 'jpg' / 'run' / 'wide')) == 5
    done = module('generate_video_jpgs', tmp_path / 'src', tmp_path / 'small', 'ucf101',
                  '--size', 112)
    assert Image.open(tmp_path / 'small' / 'run' / 'tall' / 'image_00001.jpg').size[0] == 112


def test_ucf101_json_in_the_release_s_form_counts_segments(tmp_path):
    lists = tmp_path / 'lists'
    os.makedirs(lists)
    (lists / 'classInd.txt').write_text('1 Run\n2 Jump\n')
    (lists / 'trainlist01.txt').write_text('Run/v_Run_g01_c01.avi 1\n')
    (lists / 'testlist01.txt').write_text('Jump/v_Jump_g01_c01.avi\nJump/v_gone.avi\n')
    write_video(str(tmp_path / 'jpg' / 'Run' / 'v_Run_g01_c01'), 12, n_frames_file=False)
    write_video(str(tmp_path / 'jpg' / 'Jump' / 'v_Jump_g01_c01'), 5, n_frames_file=False)
    done = module('ucf101_json', lists, tmp_path / 'jpg', tmp_path / 'out')
    assert done.returncode == 0, done.stderr
    assert '1 of 3 videos have no frames' in done.stdout
    data = json.loads((tmp_path / 'out' / 'ucf101_01.json').read_text())
    assert data['labels'] == ['Run', 'Jump']
    assert data['database']['v_Run_g01_c01'] == {
        'subset': 'training', 'annotations': {'label': 'Run', 'segment': [1, 13]}}
    assert data['database']['v_Jump_g01_c01']['annotations']['segment'] == [1, 6]
    assert 'segment' not in data['database']['v_gone']['annotations']


def test_hmdb51_json_in_the_release_s_form_counts_segments(tmp_path):
    lists = tmp_path / 'splits'
    os.makedirs(lists)
    (lists / 'wave_test_split1.txt').write_text('a.avi 1\nb.avi 2\nc.avi 0\n')
    write_video(str(tmp_path / 'jpg' / 'wave' / 'a'), 7, n_frames_file=False)
    write_video(str(tmp_path / 'jpg' / 'wave' / 'b'), 3, n_frames_file=False)
    done = module('hmdb51_json', lists, tmp_path / 'jpg', tmp_path / 'out')
    assert done.returncode == 0, done.stderr
    database = json.loads((tmp_path / 'out' / 'hmdb51_1.json').read_text())['database']
    assert database == {'a': {'subset': 'training',
                              'annotations': {'label': 'wave', 'segment': [1, 8]}},
                        'b': {'subset': 'validation',
                              'annotations': {'label': 'wave', 'segment': [1, 4]}}}


def test_kinetics_json_in_the_release_s_form(tmp_path):
    csvs = tmp_path / 'csv'
    os.makedirs(csvs)
    (csvs / 'kinetics-700_train.csv').write_text(
        'label,youtube_id,time_start,time_end,split\nrun,abc,10,20,train\n')
    (csvs / 'kinetics-700_val.csv').write_text(
        'label,youtube_id,time_start,time_end,split\nrun,def,0,10,val\n')
    (csvs / 'kinetics-700_test.csv').write_text(
        'youtube_id,time_start,time_end,split\nxyz,5,15,test\n')
    write_video(str(tmp_path / 'jpg' / 'run' / 'abc_000010_000020'), 9, n_frames_file=False)
    write_video(str(tmp_path / 'jpg' / 'test' / 'xyz_000005_000015'), 4, n_frames_file=False)
    done = module('kinetics_json', csvs, 700, tmp_path / 'jpg', 'jpg', tmp_path / 'k.json')
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / 'k.json').read_text())
    assert data['labels'] == ['run']
    assert data['database'] == {
        'abc_000010_000020': {'subset': 'training',
                              'annotations': {'label': 'run', 'segment': [1, 10]}},
        'def_000000_000010': {'subset': 'validation', 'annotations': {'label': 'run'}},
        'xyz_000005_000015': {'subset': 'testing', 'annotations': {'segment': [1, 5]}}}
    done = module('kinetics_json', csvs, 500, tmp_path / 'jpg', 'jpg', tmp_path / 'k.json')
    assert done.returncode != 0 and '400, 600 or 700' in done.stderr


def test_moments_in_time_json(tmp_path):
    folder = tmp_path / 'mit'
    os.makedirs(folder)
    (folder / 'moments_categories.txt').write_text('clapping,0\nrunning,1\n')
    (folder / 'trainingSet.csv').write_text('running/flickr-1.mp4,running,3,1\n')
    (folder / 'validationSet.csv').write_text('clapping/yt-2.mp4,clapping,3,1\n')
    write_video(str(tmp_path / 'jpg' / 'running' / 'flickr-1'), 6, n_frames_file=False)
    write_video(str(tmp_path / 'jpg' / 'clapping' / 'yt-2'), 2, n_frames_file=False)
    done = module('mit_json', folder, tmp_path / 'jpg', tmp_path / 'mit.json')
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / 'mit.json').read_text())
    assert data['labels'] == ['clapping', 'running']
    assert data['database']['flickr-1'] == {
        'subset': 'training', 'annotations': {'label': 'running', 'segment': [1, 7]}}
    (folder / 'trainingSet.csv').write_text('flickr-1.mp4,running\n')
    done = module('mit_json', folder, tmp_path / 'jpg', tmp_path / 'mit.json')
    assert done.returncode != 0 and 'trainingSet.csv line 1' in done.stderr


def test_eval_accuracy_takes_the_release_s_readme_command(tmp_path):
    """`--subset val -k 1 --ignore` (the release divides by zero on `val`)."""
    annotation = tmp_path / 'kinetics.json'
    annotation.write_text(json.dumps({'labels': ['a', 'b'], 'database': {
        'x_000001_000011': {'subset': 'validation', 'annotations': {'label': 'a'}},
        'x_000020_000030': {'subset': 'validation', 'annotations': {'label': 'b'}},
        'y': {'subset': 'validation', 'annotations': {'label': 'b'}},
        'z': {'subset': 'training', 'annotations': {'label': 'b'}}}}))
    results = tmp_path / 'results' / 'val.json'
    os.makedirs(results.parent)
    results.write_text(json.dumps({'results': {
        'x_000001_000011': [{'label': 'a', 'score': 0.9}, {'label': 'b', 'score': 0.1}],
        'x_000020_000030': [{'label': 'a', 'score': 0.6}, {'label': 'b', 'score': 0.4}]}}))
    done = module('eval_accuracy', annotation, results, '--subset', 'val', '-k', 1,
                  '--ignore', '--save')
    assert done.returncode == 0, done.stderr
    assert 'top-1 video accuracy: 0.500 (1/2)' in done.stdout  # y left out; keys whole
    assert (tmp_path / 'results' / 'top1.txt').read_text() == '0.5'
    done = module('eval_accuracy', annotation, results, '--subset', 'val', '-k', 2)
    assert 'top-2 video accuracy: 0.667 (2/3)' in done.stdout
