"""--recipe 2020 in inference.py: the 2020 release's published models on videos, with its
pipeline (values in [0, 1], Kinetics mean and std, Resize and centre crop), its sliding
windows, its checkpoints; and the flags and checkpoints that belong to the other recipe."""
import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from models import resnet, resnet2p1d
from recipes.cvpr2018 import RECIPE as cvpr2018
from recipes.release2020 import RECIPE as release2020
from tests.datagen import write_footage_frames
from tests.test_inference import inference
from tests.test_models_2020 import release_2020_checkpoint

KINETICS_MEAN = (0.4345, 0.4051, 0.3775)
KINETICS_STD = (0.2768, 0.2713, 0.2737)


@pytest.mark.parametrize('n_frames, expected', [
    (1, [(1, 1)]), (7, [(1, 7)]), (15, [(1, 15)]), (16, [(1, 16)]),
    (17, [(1, 16), (17, 17)]), (33, [(1, 16), (17, 32), (33, 33)])])
def test_sliding_windows_at_the_edges(n_frames, expected):
    """A window at every 16th frame; the first short one is the last (the CVPR 2018 test
    pass has no window starting at the last frame)."""
    assert release2020.windows(n_frames, 16, 16) == expected
    assert cvpr2018.windows(n_frames, 16, 16) == [w for w in expected if w[0] < n_frames
                                                  or w[0] == 1]


def test_sliding_windows_with_a_shorter_stride_stop_at_the_first_short_one():
    assert release2020.windows(20, 16, 8) == [(1, 16), (9, 20)]
    assert cvpr2018.windows(20, 16, 8) == [(1, 16), (9, 20), (17, 20)]


def hand_made_scores(model, folder, n_frames, size, crop=True):
    """The release's inference done by hand: frames resized (shorter side to `size`, PIL
    bilinear), centre-cropped, in [0, 1], normalised with the Kinetics mean and std; its
    windows; the mean of the clips' softmaxes."""
    frames = []
    for i in range(1, n_frames + 1):
        img = Image.open(os.path.join(folder, f'image_{i:05d}.jpg')).convert('RGB')
        w, h = img.size
        img = img.resize((int(size * w / h), size) if w >= h else (size, int(size * h / w)),
                         Image.BILINEAR)
        if crop:
            left, top = round((img.size[0] - size) / 2), round((img.size[1] - size) / 2)
            img = img.crop((left, top, left + size, top + size))
        array = np.asarray(img, dtype=np.float32) / 255
        frames.append((array - KINETICS_MEAN) / KINETICS_STD)
    softmaxes = []
    for first, last in release2020.windows(n_frames, 8, 8):
        numbers = list(range(first, last + 1))
        while len(numbers) < 8:
            numbers += numbers[:8 - len(numbers)]
        clip = torch.tensor(np.stack([frames[i - 1] for i in numbers])).permute(3, 0, 1, 2)
        with torch.no_grad():
            softmaxes.append(F.softmax(model(clip[None].float()), 1)[0])
    return torch.stack(softmaxes).mean(0), len(softmaxes)


@pytest.mark.slow
@pytest.mark.parametrize('family, model, crop', [(resnet, 'resnet', 'center'),
                                                 (resnet2p1d, 'resnet2p1d', 'center'),
                                                 (resnet2p1d, 'resnet2p1d', 'nocrop')])
def test_a_2020_checkpoint_scores_as_the_release_computes(tmp_path, family, model, crop):
    folder = str(tmp_path / 'clip')
    write_footage_frames(folder, 17, height=48)  # 85 x 48; windows 1-8, 9-16, 17 (short)
    os.remove(os.path.join(folder, 'n_frames'))
    checkpoint = str(tmp_path / 'model.pth')
    release_2020_checkpoint(checkpoint, f'{model}-10', family, 10)
    net = family.build(10, num_classes=7, adaptive_pool=True)
    net.load_state_dict(torch.load(checkpoint, weights_only=False)['state_dict'])
    expected, n_clips = hand_made_scores(net.eval(), folder, 17, 32, crop == 'center')
    code, _, stderr = inference(folder, '--output', tmp_path / 'out', '--resume_path',
                                checkpoint, '--recipe', '2020', '--model', model,
                                '--model_depth', 10, '--n_classes', 7, '--sample_size', 32,
                                '--sample_duration', 8, '--inference_crop', crop, '--top_k', 7,
                                '--no_cuda', '--n_threads', 0)
    assert code == 0, stderr
    results = json.loads((tmp_path / 'out' / 'results.json').read_text())
    scores = {int(t['label']): t['score'] for t in results['results']['clip']}
    assert [scores[k] for k in range(7)] == pytest.approx(expected.tolist(), abs=1e-5)
    assert [c['segment'] for c in results['clips']['clip']] == [[1, 8], [9, 16], [17, 17]]
    assert len(results['clips']['clip']) == n_clips


@pytest.fixture(scope='module')
def small_video(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('v') / 'clip')
    write_footage_frames(folder, 8, height=48)
    return folder


def test_a_release_checkpoint_alone_is_applied_as_it_tells(tmp_path, small_video):
    """Its layout tells its release, its arch the network, its classifier the classes: no
    flag is needed, one line says what was taken, the scores are those of the flags."""
    checkpoint = str(tmp_path / 'r3d10.pth')
    release_2020_checkpoint(checkpoint, 'resnet-10', resnet, 10)
    code, _, stderr = inference(small_video, '--output', tmp_path / 'told', '--resume_path',
                                checkpoint, '--no_cuda', '--n_threads', 0)
    assert code == 0, stderr
    told = [line for line in stderr.splitlines() if line.startswith('took')]
    assert len(told) == 1 and told[0].startswith(
        'took --recipe 2020 --model_depth 10 --n_classes 7 from'), told
    code, _, stderr = inference(small_video, '--output', tmp_path / 'given', '--resume_path',
                                checkpoint, '--recipe', '2020', '--model_depth', 10,
                                '--n_classes', 7, '--no_cuda', '--n_threads', 0)
    assert code == 0 and 'took' not in stderr, stderr
    assert json.loads((tmp_path / 'told' / 'results.json').read_text()) == \
        json.loads((tmp_path / 'given' / 'results.json').read_text())


@pytest.mark.slow
def test_an_explicit_cvpr2018_recipe_runs_a_2020_checkpoint_and_says_so(tmp_path, small_video):
    checkpoint = str(tmp_path / 'r3d10.pth')
    release_2020_checkpoint(checkpoint, 'resnet-10', resnet, 10)
    code, _, stderr = inference(small_video, '--output', tmp_path / 'out', '--resume_path',
                                checkpoint, '--recipe', 'cvpr2018', '--model_depth', 10,
                                '--n_classes', 7, '--sample_size', 32, '--sample_duration', 8,
                                '--no_cuda', '--n_threads', 0)
    # The 2018 network pools with a fixed window: 32 pixels and 8 frames fit it.
    assert code == 0, stderr
    assert stderr.count('--recipe cvpr2018 runs it') == 1


@pytest.mark.slow
@pytest.mark.parametrize('flags, belongs', [
    (['--value_scale', '255'], '--recipe 2020'),
    (['--inference_crop', 'nocrop'], '--recipe 2020'),
    (['--no_max_pool'], '--recipe 2020'),
    (['--model', 'resnet2p1d'], '--recipe 2020'),
    (['--recipe', '2020', '--norm_value', '255'], '--recipe cvpr2018'),
    (['--recipe', '2020', '--scale_in_test', '0.8'], '--recipe cvpr2018'),
    (['--mean_dataset', '0.5'], '--recipe 2020'),
])
def test_a_flag_of_the_other_recipe_is_one_line(tmp_path, flags, belongs):
    code, _, stderr = inference(tmp_path, '--output', tmp_path / 'out', '--resume_path',
                                tmp_path / 'none.pth', *flags)
    assert code == 2 and stderr.count('\n') == 1, stderr
    assert belongs in stderr
