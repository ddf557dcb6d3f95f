"""Transforms against direct PIL computations, to the pixel."""
import random

import numpy as np
import pytest
import torch
from PIL import Image

import spatial_transforms as st
import temporal_transforms as tt
from recipes.cvpr2018 import test_transforms as make_test_transforms
from recipes.cvpr2018 import training_transforms, validation_transforms
from datasets.videodataset import transform_clip
from mean import get_mean, get_std
from tests.conftest import clips_of, dataset_of


def noise_image(w, h, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def same(a, b):
    return np.array_equal(np.asarray(a), np.asarray(b)) and a.size == b.size


@pytest.mark.parametrize('w,h,size,expected', [
    (40, 30, 15, (20, 15)), (30, 40, 15, (15, 20)), (100, 30, 16, (53, 16)),
    (31, 17, 10, (18, 10))])
def test_scale(w, h, size, expected):
    img = noise_image(w, h)
    out = st.Scale(size)(img)
    assert out.size == expected
    assert same(out, img.resize(expected, Image.BILINEAR))


def test_scale_leaves_matching_image_untouched():
    img = noise_image(20, 30)
    assert st.Scale(20)(img) is img


@pytest.mark.parametrize('w,h,size', [(11, 9, 4), (13, 11, 4), (10, 10, 5), (64, 48, 32)])
def test_center_crop_rounds_half_to_even(w, h, size):
    img = noise_image(w, h)
    left, top = round((w - size) / 2), round((h - size) / 2)
    assert same(st.CenterCrop(size)(img), img.crop((left, top, left + size, top + size)))


@pytest.mark.parametrize('position,box', [
    ('c', (4, 2, 12, 10)), ('tl', (0, 0, 8, 8)), ('tr', (9, 0, 17, 8)), ('bl', (0, 4, 8, 12)),
    ('br', (9, 4, 17, 12))])
def test_corner_crop(position, box):
    img = noise_image(17, 12)
    assert same(st.CornerCrop(8, position)(img), img.crop(box))


def test_corner_crop_draws_position_per_clip():
    crop = st.CornerCrop(8, None)
    random.seed(3)
    seen = set()
    for _ in range(50):
        crop.randomize_parameters()
        seen.add(crop.crop_position)
    assert seen == {'c', 'tl', 'tr', 'bl', 'br'}


@pytest.mark.parametrize('scale,position', [
    (1.0, 'c'), (0.84089641525, 'c'), (0.7, 'tl'), (0.6, 'tr'), (0.5, 'bl'), (0.55, 'br')])
def test_multi_scale_corner_crop(scale, position):
    w, h = 71, 47
    img = noise_image(w, h)
    crop = st.MultiScaleCornerCrop([scale], 20)
    crop.scale, crop.crop_position = scale, position
    s = int(min(w, h) * scale)
    box = {'c': (w // 2 - s // 2, h // 2 - s // 2, w // 2 + s // 2, h // 2 + s // 2),
           'tl': (0, 0, s, s), 'tr': (w - s, 0, w, s), 'bl': (0, h - s, s, h),
           'br': (w - s, h - s, w, h)}[position]
    assert same(crop(img), img.crop(box).resize((20, 20), Image.BILINEAR))


@pytest.mark.parametrize('u,v,scale', [(0.0, 0.0, 1.0), (0.5, 0.25, 0.7), (0.99, 0.3, 0.5),
                                       (0.125, 0.875, 0.6)])
def test_multi_scale_random_crop(u, v, scale):
    w, h = 64, 37
    img = noise_image(w, h)
    crop = st.MultiScaleRandomCrop([scale], 16)
    crop.scale, crop.tl_x, crop.tl_y = scale, u, v
    s = int(min(w, h) * scale)
    x1, y1 = u * (w - s), v * (h - s)
    expected = img.crop((x1, y1, x1 + s, y1 + s)).resize((16, 16), Image.BILINEAR)
    assert same(crop(img), expected)


def test_flip_and_to_tensor_and_normalize():
    img = noise_image(9, 7)
    flip = st.RandomHorizontalFlip()
    flip.p = 0.1
    assert same(flip(img), img.transpose(Image.FLIP_LEFT_RIGHT))
    flip.p = 0.9
    assert flip(img) is img
    t = st.ToTensor(255)(img)
    assert t.shape == (3, 7, 9) and t.dtype == torch.float32
    assert torch.equal(t, torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float()
                       / 255)
    n = st.Normalize([0.1, 0.2, 0.3], [2.0, 3.0, 4.0])(t.clone())
    for c, (m, s) in enumerate(zip([0.1, 0.2, 0.3], [2.0, 3.0, 4.0])):
        assert torch.allclose(n[c], (t[c] - m) / s)


def test_mean_and_std():
    assert get_mean(1, 'activitynet') == [114.7748, 107.7354, 99.4750]
    assert get_mean(255, 'kinetics')[0] == pytest.approx(110.63666788 / 255)
    assert get_std(255)[2] == pytest.approx(40.02898126 / 255)


def frame_by_frame(spatial, frames):
    spatial.randomize_parameters()
    return torch.stack([spatial(f) for f in frames], 0).permute(1, 0, 2, 3)


@pytest.mark.parametrize('flags', [
    [], ['--train_crop', 'random'], ['--train_crop', 'center', '--no_hflip'],
    ['--std_norm', '--norm_value', '255'], ['--no_mean_norm', '--std_norm']])
def test_clip_path_equals_frame_by_frame(make_opt, flags):
    opt = make_opt('--sample_size', 32, *flags)
    frames = [noise_image(71, 40, seed=i) for i in range(6)]
    for pipeline in (training_transforms, validation_transforms, make_test_transforms):
        spatial = pipeline(clips_of(opt))[0]
        for seed in range(4):
            random.seed(seed)
            expected = frame_by_frame(spatial, frames)
            random.seed(seed)
            clip = transform_clip(spatial, frames)
            assert clip.shape == (3, 6, 32, 32)
            assert torch.equal(clip, expected)


def test_normalisation_options(make_opt):
    def norm(*flags):
        n = training_transforms(clips_of(make_opt(*flags)))[0].transforms[-1]
        return n.mean, n.std
    mean, std = get_mean(1, 'activitynet'), get_std(1)
    assert norm() == (mean, [1, 1, 1])
    assert norm('--no_mean_norm') == ([0, 0, 0], [1, 1, 1])
    assert norm('--std_norm') == (mean, std)
    assert norm('--no_mean_norm', '--std_norm') == ([0, 0, 0], std)


def test_no_hflip_is_respected(make_opt):
    steps = training_transforms(clips_of(make_opt('--no_hflip')))[0].transforms
    assert not any(isinstance(t, st.RandomHorizontalFlip) for t in steps)
    steps = training_transforms(clips_of(make_opt()))[0].transforms
    assert any(isinstance(t, st.RandomHorizontalFlip) for t in steps)


def test_one_draw_per_clip(make_opt):
    """Every frame of a clip gets the same crop, scale and flip."""
    opt = make_opt('--sample_size', 16, '--train_crop', 'random')
    spatial = training_transforms(clips_of(opt))[0]
    frame = noise_image(50, 30)
    for seed in range(10):
        random.seed(seed)
        clip = transform_clip(spatial, [frame] * 5)
        assert all(torch.equal(clip[:, 0], clip[:, t]) for t in range(5))


# -- temporal ---------------------------------------------------------------------------

def test_loop_padding():
    assert tt.LoopPadding(7)([3, 4, 5]) == [3, 4, 5, 3, 4, 5, 3]
    assert tt.LoopPadding(2)([3, 4, 5]) == [3, 4, 5]


def test_begin_and_center_crop():
    frames = list(range(1, 21))
    assert tt.TemporalBeginCrop(4)(frames) == [1, 2, 3, 4]
    assert tt.TemporalCenterCrop(4)(frames) == [9, 10, 11, 12]  # begin 20//2 - 4//2 = 8
    assert tt.TemporalCenterCrop(5)(frames) == [9, 10, 11, 12, 13]
    assert tt.TemporalCenterCrop(8)([1, 2, 3]) == [1, 2, 3, 1, 2, 3, 1, 2]


def test_random_crop_range():
    frames = list(range(1, 11))
    random.seed(0)
    begins = {tt.TemporalRandomCrop(4)(frames)[0] for _ in range(500)}
    assert begins == set(range(1, 7))  # begin index 0 ... 10 - 4 - 1 = 5
    assert tt.TemporalRandomCrop(16)(frames) == frames + frames[:6]


@pytest.mark.parametrize('transform', [tt.LoopPadding(9), tt.TemporalBeginCrop(9),
                                       tt.TemporalCenterCrop(9), tt.TemporalRandomCrop(9)])
def test_temporal_transforms_never_modify_their_input(transform):
    frames = [1, 2, 3]
    transform(frames)
    assert frames == [1, 2, 3]


# -- --fast_training_clips: the decoded-tensor path of training clips ----------------------------------------

@pytest.fixture(scope='module')
def footage(tmp_path_factory):
    """A UCF-101-layout set of one 240-pixel-high video of real-looking frames."""
    import json
    import shutil
    from tests.datagen import write_footage_frames
    if shutil.which('ffmpeg') is None:
        pytest.skip('needs ffmpeg')
    root = tmp_path_factory.mktemp('footage')
    write_footage_frames(str(root / 'jpg' / 'a' / 'v000'), 20)
    annotation = root / 'annotation.json'
    annotation.write_text(json.dumps({'labels': ['a'], 'database': {
        'v000': {'subset': 'training', 'annotations': {'label': 'a'}}}}))
    return ['--video_path', str(root / 'jpg'), '--annotation_path', str(annotation),
            '--dataset', 'ucf101', '--n_classes', 1, '--sample_size', 112,
            '--sample_duration', 16]


def training_sets(make_opt, footage, *flags):
    """Training sets as main.py builds them: (with --fast_training_clips, by default, and the
    reference's way: PIL decoding every frame and the PIL transforms)."""
    from datasets.jpeg_frames import video_loader
    sets = []
    for fast in (['--fast_training_clips'], [], []):
        opt = make_opt(*footage, *flags, *fast)
        sets.append(dataset_of(opt, 'training', training_transforms(clips_of(opt))))
    sets[2].loader = lambda folder, numbers: video_loader(folder, numbers)  # not the default
    assert [s.decodes_to_tensors() for s in sets] == [True, True, False]
    assert sets[0].spatial_transform.transforms[0].tensor_resize == 'torch'
    assert sets[1].spatial_transform.transforms[0].tensor_resize == 'pil'
    return sets


def grey_levels_apart(a, b):
    """(largest difference, fraction of values that differ, fraction more than 1 apart) of
    two clips normalised alike (mean subtracted, std 1), in grey levels."""
    assert a.shape == b.shape == (3, 16, 112, 112) and a.dtype == b.dtype == torch.float32
    difference = (a - b).abs()
    return (difference.max().item(), (difference > 0).float().mean().item(),
            (difference > 1).float().mean().item())


def fixed_draw(dataset, **parameters):
    """Pin the crop and flip of a dataset's pipeline to `parameters`."""
    for step in dataset.spatial_transform.transforms:
        step.randomize_parameters = lambda: None
        for name, value in parameters.items():
            if hasattr(step, name):
                setattr(step, name, value)


@pytest.mark.slow
@pytest.mark.parametrize('crop', ['corner', 'random'])
def test_fast_training_clips_are_within_two_grey_levels_of_pil_for_every_draw(make_opt,
                                                                             footage, crop):
    fast, _, exact = training_sets(make_opt, footage, '--train_crop', crop)
    scales = fast.spatial_transform.transforms[0].scales
    places = ([{'crop_position': p} for p in st.CROP_POSITIONS] if crop == 'corner' else
              [{'tl_x': x, 'tl_y': y} for x, y in [(0, 0), (1, 1), (0.37, 0.81), (0.5, 0.5)]])
    worst, differing, over_one = 0, [], []
    for scale in scales:
        for place in places:
            for flip in (0.2, 0.8):  # p < 0.5 flips
                for dataset in (fast, exact):
                    fixed_draw(dataset, scale=scale, p=flip, **place)
                random.seed(0)
                a = fast[0][0]
                random.seed(0)
                b = exact[0][0]
                largest, fraction, fraction_over_one = grey_levels_apart(a, b)
                worst = max(worst, largest)
                differing.append(fraction)
                over_one.append(fraction_over_one)
    assert worst <= 2.0
    assert sum(differing) / len(differing) < 0.02
    assert sum(over_one) / len(over_one) < 1e-4


def test_training_clips_follow_the_reference_draws(make_opt, footage):
    """The same seed draws the same frames, crop and flip on both paths, and leaves the
    random state alike."""
    fast, default, exact = training_sets(make_opt, footage, '--train_crop', 'random')
    for seed in range(6):
        random.seed(seed)
        a = fast[0][0]
        after_fast = random.getstate()
        random.seed(seed)
        b = exact[0][0]
        assert random.getstate() == after_fast
        assert grey_levels_apart(a, b)[0] <= 2.0
        random.seed(seed)
        assert torch.equal(default[0][0], b)


@pytest.mark.slow
@pytest.mark.parametrize('crop', ['corner', 'random', 'center'])
def test_default_training_clips_are_the_references_for_every_draw(make_opt, footage, crop):
    """torchcodec's decoding, the crop as a view and PIL's resize of it: the reference's
    tensors, to the bit."""
    _, default, exact = training_sets(make_opt, footage, '--train_crop', crop)
    crop_step = default.spatial_transform.transforms[0]
    places = ([{'crop_position': p} for p in crop_step.crop_positions] if crop != 'random'
              else [{'tl_x': x, 'tl_y': y} for x, y in [(0, 0), (1, 1), (0.37, 0.81)]])
    for scale in crop_step.scales:
        for place in places:
            for flip in (0.2, 0.8):
                for dataset in (default, exact):
                    fixed_draw(dataset, scale=scale, p=flip, **place)
                random.seed(0)
                a = default[0][0]
                random.seed(0)
                assert torch.equal(a, exact[0][0]), (scale, place, flip)


TRAINING_SETTINGS = [
    [*crop, *flip, *fast, *norm]
    for crop in (['--train_crop', 'random'], ['--train_crop', 'corner'],
                 ['--train_crop', 'center'])
    for flip in ([], ['--no_hflip'])
    for fast in ([], ['--fast_training_clips'])
    for norm in ([], ['--no_mean_norm'], ['--std_norm', '--norm_value', '255'])]


@pytest.mark.parametrize('flags', TRAINING_SETTINGS, ids=' '.join)
def test_every_training_setting_takes_tensor_frames_and_matches_its_pil_steps(make_opt, flags):
    """The training pipeline of every setting is built for decoded tensor frames (the fast
    path), and gives what its own steps give on PIL frames (exactly, or within the
    documented 2 grey levels with --fast_training_clips)."""
    clips = clips_of(make_opt(*flags, '--sample_size', 16))
    spatial = training_transforms(clips)[0]
    assert spatial.takes_tensor_frames
    frames = [noise_image(37, 29, seed) for seed in range(3)]
    tensors = [torch.from_numpy(np.asarray(f).copy()).permute(2, 0, 1) for f in frames]
    for seed in range(4):
        random.seed(seed)
        spatial.randomize_parameters()
        fast = transform_clip(spatial, tensors, randomized=True)
        slow = transform_clip(spatial, frames, randomized=True)
        assert fast.shape == slow.shape == (3, 3, 16, 16)
        if not clips.fast_resize:
            assert torch.equal(fast, slow), seed
            continue
        grey_level = 1 / (clips.norm_value * min(clips.std))  # a grey level, normalised
        assert (fast - slow).abs().max() <= 2 * grey_level + 1e-5, seed


@pytest.mark.parametrize('fast', [[], ['--fast_training_clips']])
def test_validation_and_test_clips_stay_on_the_pil_path(make_opt, fast):
    clips = clips_of(make_opt(*fast))
    for pipeline in (validation_transforms, make_test_transforms):
        assert not pipeline(clips)[0].takes_tensor_frames


def test_a_training_step_without_tensor_frames_is_refused_at_once():
    """A step that cannot take decoded tensor frames would send every training clip back to
    the PIL path: building the pipeline says so instead."""
    with pytest.raises(TypeError, match='Scale does not take tensor frames'):
        st.Compose([st.Scale(16), st.ToTensor(1)], tensor_frames=True)
    assert not st.Compose([st.Scale(16), st.ToTensor(1)]).takes_tensor_frames


def test_default_training_clips_match_pil_on_odd_frames(tmp_path, make_opt):
    """Grey JPEGs, a PNG under a .jpg name, a CMYK JPEG and a frame of another size take the
    decoded-tensor path and still give the PIL path's tensors."""
    import json
    from tests.datagen import write_video
    folder = tmp_path / 'jpg' / 'a' / 'v000'
    write_video(str(folder), 8, size=(71, 40))
    noise_image(71, 40, seed=1).convert('L').save(folder / 'image_00002.jpg')
    noise_image(71, 40, seed=2).save(folder / 'image_00003.jpg', format='PNG')
    noise_image(71, 40, seed=3).convert('CMYK').save(folder / 'image_00004.jpg')
    noise_image(64, 48, seed=4).save(folder / 'image_00005.jpg')
    annotation = tmp_path / 'annotation.json'
    annotation.write_text(json.dumps({'labels': ['a'], 'database': {
        'v000': {'subset': 'training', 'annotations': {'label': 'a'}}}}))
    flags = ['--video_path', tmp_path / 'jpg', '--annotation_path', annotation, '--dataset',
             'ucf101', '--n_classes', 1, '--sample_size', 24, '--sample_duration', 8]
    _, default, exact = training_sets(make_opt, flags)
    for seed in range(8):
        random.seed(seed)
        a = default[0][0]
        random.seed(seed)
        assert torch.equal(a, exact[0][0]), seed
