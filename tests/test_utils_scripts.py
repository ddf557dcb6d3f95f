"""Data preparation and evaluation programs, with real ffmpeg on generated videos."""
import json
import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from tests.conftest import ROOT
from utils_scripts.evaluation import evaluate

pytestmark = pytest.mark.skipif(shutil.which('ffmpeg') is None, reason='needs ffmpeg')
SCRIPTS = os.path.join(ROOT, 'utils_scripts')


def script(name, *args):
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, name), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def make_video(path, size, rate, seconds):
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i',
                    f'testsrc=size={size}:rate={rate}', '-t', str(seconds), '-pix_fmt',
                    'yuv420p', str(path)], check=True)


def frames_of(folder):
    return sorted(f for f in os.listdir(folder) if f.startswith('image_'))


@pytest.fixture(scope='module')
def ucf_videos(tmp_path_factory):
    src = tmp_path_factory.mktemp('ucf_src')
    os.makedirs(src / 'Run')
    os.makedirs(src / 'Jump It')
    make_video(src / 'Run' / 'v_Run_g01_c01.avi', '320x240', 25, 1)
    make_video(src / 'Run' / "my 'odd' vidéo 100%.avi", '176x144', 15, 2)
    make_video(src / 'Jump It' / 'v_Jump_g01_c01.avi', '640x360', 30, 0.5)
    (src / 'Jump It' / 'broken.avi').write_bytes(os.urandom(5000))
    return src


@pytest.mark.slow
def test_extraction_heights_counts_failures_and_resume(ucf_videos, tmp_path):
    dst = tmp_path / 'jpg'
    done = script('video_jpg_ucf101_hmdb51.py', ucf_videos, dst, '--n_jobs', 2)
    assert done.returncode == 1  # the broken video
    assert '3 videos extracted, 0 already done, 1 failed' in done.stdout
    assert 'failed: ' in done.stdout and 'broken.avi' in done.stdout
    expected = {('Run', 'v_Run_g01_c01'): (25, 320), ('Run', "my 'odd' vidéo 100%"): (30, 293),
                ('Jump It', 'v_Jump_g01_c01'): (15, 427)}
    for (cls, name), (n, width) in expected.items():
        folder = dst / cls / name
        names = frames_of(folder)
        assert names[0] == 'image_00001.jpg' and len(names) == n
        w, h = Image.open(folder / names[-1]).size
        assert h == 240 and abs(w - width) <= 1
    assert not (dst / 'Jump It' / 'broken').exists()
    assert not any(p.endswith('.partial') for p in os.listdir(dst / 'Jump It'))

    # A half-written video is redone, finished ones are skipped.
    shutil.rmtree(dst / 'Run' / 'v_Run_g01_c01')
    os.makedirs(dst / 'Run' / 'v_Run_g01_c01.partial')
    (dst / 'Run' / 'v_Run_g01_c01.partial' / 'image_00001.jpg').write_bytes(b'half')
    os.remove(ucf_videos / 'Jump It' / 'broken.avi')
    again = script('video_jpg_ucf101_hmdb51.py', ucf_videos, dst)
    assert again.returncode == 0, again.stdout + again.stderr
    assert '1 video extracted, 2 already done, 0 failed' in again.stdout
    assert len(frames_of(dst / 'Run' / 'v_Run_g01_c01')) == 25

    assert script('n_frames_ucf101_hmdb51.py', dst).returncode == 0
    assert (dst / 'Run' / 'v_Run_g01_c01' / 'n_frames').read_text() == '25'
    assert (dst / 'Jump It' / 'v_Jump_g01_c01' / 'n_frames').read_text() == '15'


def test_activitynet_extraction_and_fps(tmp_path):
    src = tmp_path / 'videos'
    os.makedirs(src)
    make_video(src / 'v_abc.mp4', '480x360', 24, 2)
    make_video(src / 'v_def.mp4', '320x180', 10, 3)
    dst = tmp_path / 'jpg'
    assert script('video_jpg.py', src, dst).returncode == 0
    assert Image.open(dst / 'v_abc' / 'image_00001.jpg').size == (480, 360)
    assert len(frames_of(dst / 'v_def')) == 30
    assert script('fps.py', src, dst).returncode == 0
    assert float((dst / 'v_abc' / 'fps').read_text()) == 24.0
    assert float((dst / 'v_def' / 'fps').read_text()) == 10.0


def test_kinetics_extraction_keeps_test_folder(tmp_path):
    src = tmp_path / 'videos'
    for folder in ('abseiling', 'test'):
        os.makedirs(src / folder)
    make_video(src / 'abseiling' / 'a_000001_000011.mp4', '320x240', 10, 1)
    make_video(src / 'test' / 'b_000002_000012.mp4', '320x240', 10, 1)
    dst = tmp_path / 'jpg'
    assert script('video_jpg_kinetics.py', src, dst).returncode == 0
    assert script('n_frames_kinetics.py', dst).returncode == 0
    assert (dst / 'test' / 'b_000002_000012' / 'n_frames').read_text() == '10'


def test_kinetics_json(tmp_path):
    (tmp_path / 'train.csv').write_text(
        'label,youtube_id,time_start,time_end,split\n'
        'zumba,aaa,10,20,train\nabseiling,bbb,0,10,train\nzumba,ccc,5,15,train\n')
    (tmp_path / 'val.csv').write_text('label,youtube_id,time_start,time_end,split\n'
                                      'abseiling,ddd,1,11,val\n')
    (tmp_path / 'test.csv').write_text('youtube_id,time_start,time_end,split\neee,3,13,test\n')
    done = script('kinetics_json.py', tmp_path / 'train.csv', tmp_path / 'val.csv',
                  tmp_path / 'test.csv', tmp_path / 'k.json')
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / 'k.json').read_text())
    assert data['labels'] == ['zumba', 'abseiling']  # order of first appearance
    assert data['database']['aaa_000010_000020'] == {
        'subset': 'training', 'annotations': {'label': 'zumba', 'segment': [10.0, 20.0]}}
    assert data['database']['ddd_000001_000011']['subset'] == 'validation'
    assert data['database']['eee_000003_000013'] == {'subset': 'testing', 'annotations': {}}


def test_ucf101_json(tmp_path):
    (tmp_path / 'classInd.txt').write_text('1 ApplyLipstick\n2 HandstandPushups\n')
    (tmp_path / 'trainlist01.txt').write_text(
        'ApplyLipstick/v_ApplyLipstick_g08_c01.avi 1\n'
        'HandstandPushups/v_HandStandPushups_g09_c01.avi 2\n')
    (tmp_path / 'testlist01.txt').write_text('HandstandPushups/v_HandStandPushups_g01_c01.avi\n')
    assert script('ucf101_json.py', tmp_path).returncode == 0
    data = json.loads((tmp_path / 'ucf101_01.json').read_text())
    assert data['labels'] == ['ApplyLipstick', 'HandstandPushups']
    assert data['database']['v_HandStandPushups_g01_c01'] == {
        'subset': 'validation', 'annotations': {'label': 'HandstandPushups'}}
    assert data['database']['v_ApplyLipstick_g08_c01']['subset'] == 'training'
    assert not (tmp_path / 'ucf101_02.json').exists()


def test_hmdb51_json(tmp_path):
    (tmp_path / 'wave_test_split1.txt').write_text('w1.avi 1 \nw2.avi 2 \nw3.avi 0 \n')
    (tmp_path / 'brush_hair_test_split1.txt').write_text('b&1!.avi 2 \n')
    (tmp_path / 'wave_test_split2.txt').write_text('w1.avi 2 \n')
    assert script('hmdb51_json.py', tmp_path).returncode == 0
    one = json.loads((tmp_path / 'hmdb51_1.json').read_text())
    assert one['labels'] == ['brush_hair', 'wave']
    assert one['database'] == {
        'w1': {'subset': 'training', 'annotations': {'label': 'wave'}},
        'w2': {'subset': 'validation', 'annotations': {'label': 'wave'}},
        'b&1!': {'subset': 'validation', 'annotations': {'label': 'brush_hair'}}}
    two = json.loads((tmp_path / 'hmdb51_2.json').read_text())
    assert two['database']['w1']['subset'] == 'validation'


def write_eval_files(tmp_path, suffix=''):
    annotation = {'labels': ['a', 'b'], 'database': {
        f'v1{suffix}': {'subset': 'validation', 'annotations': {'label': 'a'}},
        f'v2{suffix}': {'subset': 'validation', 'annotations': {'label': 'b'}},
        f'v3{suffix}': {'subset': 'validation', 'annotations': {'label': 'b'}},
        f'v4{suffix}': {'subset': 'validation', 'annotations': {'label': 'a'}},
        f'v5{suffix}': {'subset': 'training', 'annotations': {'label': 'a'}}}}
    results = {'results': {
        'v1': [{'label': 'a', 'score': 0.9}, {'label': 'b', 'score': 0.1}],
        'v2': [{'label': 'a', 'score': 0.6}, {'label': 'b', 'score': 0.4}],
        'v3': [{'label': 'b', 'score': 0.7}, {'label': 'a', 'score': 0.3}]}}  # v4 missing
    (tmp_path / 'ann.json').write_text(json.dumps(annotation))
    (tmp_path / 'res.json').write_text(json.dumps(results))
    return tmp_path / 'ann.json', tmp_path / 'res.json'


def test_evaluation_arithmetic(tmp_path):
    ann, res = write_eval_files(tmp_path)
    assert evaluate(ann, res) == (0.5, 2, 4)
    assert evaluate(ann, res, top_k=2) == (0.75, 3, 4)  # v4 has no prediction: wrong
    done = script('eval_ucf101.py', ann, res)
    assert done.stdout.strip() == 'top-1 video accuracy: 0.500 (2/4)'
    assert script('eval_hmdb51.py', ann, res, '--top_k', 2).stdout.strip() == \
        'top-2 video accuracy: 0.750 (3/4)'


def test_kinetics_evaluation_drops_time_suffix(tmp_path):
    ann, res = write_eval_files(tmp_path, suffix='_000010_000020')
    assert script('eval_kinetics.py', ann, res).stdout.strip() == \
        'top-1 video accuracy: 0.500 (2/4)'


def test_activitynet_evaluation_counts_any_segment_label(tmp_path):
    annotation = {'taxonomy': [], 'database': {
        'a1': {'subset': 'validation', 'annotations': [{'label': 'run', 'segment': [0, 2]},
                                                        {'label': 'jump', 'segment': [3, 4]}]},
        'a2': {'subset': 'validation', 'annotations': [{'label': 'swim', 'segment': [1, 5]}]},
        'a3': {'subset': 'training', 'annotations': [{'label': 'run', 'segment': [0, 1]}]}}}
    results = {'results': {'a1': [{'label': 'jump', 'score': 0.8}],
                           'a2': [{'label': 'run', 'score': 0.6}, {'label': 'swim',
                                                                    'score': 0.4}]}}
    (tmp_path / 'anet.json').write_text(json.dumps(annotation))
    (tmp_path / 'anet_res.json').write_text(json.dumps(results))
    assert script('eval_activitynet.py', tmp_path / 'anet.json', tmp_path / 'anet_res.json') \
        .stdout.strip() == 'top-1 video accuracy: 0.500 (1/2)'
    assert script('eval_activitynet.py', tmp_path / 'anet.json', tmp_path / 'anet_res.json',
                  '--top_k', 2).stdout.strip() == 'top-2 video accuracy: 1.000 (2/2)'
    # An evaluation script of the other layout refuses, in one line, instead of 0.000.
    done = script('eval_ucf101.py', tmp_path / 'anet.json', tmp_path / 'anet_res.json')
    assert done.returncode == 1 and 'Traceback' not in done.stderr
    assert 'holds no labels of the UCF-101 layout' in done.stderr
    ann, res = write_eval_files(tmp_path)
    done = script('eval_activitynet.py', ann, res)
    assert done.returncode == 1 and 'holds no labels of the ActivityNet layout' in done.stderr
    # A result of another dataset: no video in common.
    done = script('eval_ucf101.py', ann, tmp_path / 'anet_res.json')
    assert done.returncode == 1 and 'is it a result of another dataset' in done.stderr


def test_evaluation_bad_input(tmp_path):
    done = script('eval_ucf101.py', tmp_path / 'none.json', tmp_path / 'r.json')
    assert done.returncode != 0 and 'annotation file not found' in done.stderr
    assert 'Traceback' not in done.stderr


def test_requirements_met_names_what_pip_must_install(tmp_path):
    from importlib import metadata
    from utils_scripts.requirements_met import unmet
    numpy_version = metadata.version('numpy')
    assert unmet([f'numpy=={numpy_version}', 'pillow', '# a comment', '']) == []
    assert unmet(['numpy==0.0.1']) == [f'numpy==0.0.1 (installed: {numpy_version})']
    assert unmet(['surely-not-installed-package']) == ['surely-not-installed-package']
    assert unmet(['numpy>=1.0']) == ['numpy>=1.0']  # not read here: left to pip
    requirements = tmp_path / 'requirements.txt'
    requirements.write_text('numpy\nsurely-not-installed-package==1.0\n')
    done = subprocess.run([sys.executable, 'utils_scripts/requirements_met.py',
                           str(requirements)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stdout.strip() == 'to install: surely-not-installed-package==1.0'
