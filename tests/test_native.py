"""The native clip core (native/clipcore.c): the same training clips as the Python path,
through the dataset's own __getitem__, for every crop, flip and frame kind; what it leaves
to the Python path is still handled as before; damaged and hostile files are fuzzed.

The same damaged files go through the core built with AddressSanitizer by `make asan`
(native/fuzz.c; CLIPCORE_FUZZ_ROUNDS sets the fuzzing's length here)."""
import os
import random
import shutil

import pytest
import torch
from PIL import Image

import native
import spatial_transforms as st
from datasets.jpeg_frames import tensor_video_loader, video_loader
from datasets.names import frame_path
from native.plans import plan
from datasets.videodataset import DamagedClip, dataset_class, transform_clip
from temporal_transforms import LoopPadding
from tests.datagen import labelled_layout, write_footage_frames
from tests.jpeg_samples import FRAME_KINDS, mutations, write_frames

# Skipped only where the core cannot be built here; where it can, make install built it.
pytestmark = pytest.mark.skipif(
    native.library() is None and not (shutil.which('gcc') and
                                      os.path.exists('/usr/include/jpeglib.h')),
    reason='the native clip core cannot be built on this machine (gcc, libjpeg-turbo)')
SCALES = [0.84089641525 ** i for i in range(5)]


@pytest.fixture(scope='module')
def footage(tmp_path_factory):
    """16 frames of real-looking 427x240 footage, as the Kinetics preparation writes them."""
    folder = str(tmp_path_factory.mktemp('footage'))
    write_footage_frames(folder, 16)
    return folder


@pytest.fixture
def python_path(monkeypatch):
    """A context in which the core is off: clips come from the Python path."""
    class Off:
        def __enter__(self):
            monkeypatch.setattr(native, 'disabled', True)

        def __exit__(self, *exc):
            monkeypatch.setattr(native, 'disabled', False)
    return Off()


@pytest.fixture(params=['avx2', 'scalar'])
def simd(request):
    """Each test once with the AVX2 code (where the CPU has it) and once without."""
    lib = native.library()
    before = lib.cc_use_simd(-1)
    lib.cc_use_simd(1 if request.param == 'avx2' else 0)
    yield request.param
    lib.cc_use_simd(before)


def training_transform(crop, flip=True, norm_value=1, mean=(114.8, 107.7, 99.6),
                       std=(1, 1, 1)):
    steps = [crop] + ([st.RandomHorizontalFlip()] if flip else [])
    return st.Compose(steps + [st.ToTensor(norm_value), st.Normalize(mean, std)],
                      tensor_frames=True)


def reference_clip(spatial, folder, frames):
    """The reference's way, frame by frame in PIL, the parameters already drawn."""
    return transform_clip(spatial, video_loader(folder, frames), randomized=True)


def native_clip(spatial, folder, frames):
    clip = native.clip_from_jpegs([frame_path(folder, i) for i in frames], frames,
                                  plan(spatial))
    assert clip is not None, 'the core left this clip to the Python path'
    return clip


@pytest.mark.slow
def test_the_clips_are_the_references_at_every_scale_position_and_flip(footage, simd):
    crop = st.MultiScaleCornerCrop(SCALES, 112)
    spatial = training_transform(crop)
    frames = list(range(1, 17))
    for crop.scale in SCALES:
        for crop.crop_position in st.CROP_POSITIONS:
            for spatial.transforms[1].p in (0.2, 0.8):
                expected = reference_clip(spatial, footage, frames)
                assert torch.equal(native_clip(spatial, footage, frames), expected), \
                    (crop.scale, crop.crop_position, spatial.transforms[1].p)


@pytest.mark.parametrize('size', [16, 57, 112, 171, 300])
def test_random_crops_other_sample_sizes_and_value_scalings(footage, simd, size):
    """Downscaling and upscaling (171, 300 > the crop), random places (boxes rounded as PIL
    rounds them), values in [0, 1] and a std."""
    random.seed(size)
    crop = st.MultiScaleRandomCrop(SCALES, size)
    spatial = training_transform(crop, norm_value=255, mean=(0.45, 0.42, 0.39),
                                 std=(0.23, 0.22, 0.23))
    for _ in range(6):
        spatial.randomize_parameters()
        frames = sorted(random.sample(range(1, 17), 4))
        assert torch.equal(native_clip(spatial, footage, frames),
                           reference_clip(spatial, footage, frames))


@pytest.mark.parametrize('size', [(97, 61), (61, 97), (33, 17), (320, 240), (565, 240)])
def test_odd_frame_sizes_every_corner(tmp_path, simd, size):
    folder = str(tmp_path / 'v')
    write_frames(folder, 4, size, quality=90)
    crop = st.MultiScaleCornerCrop(SCALES, 24)
    spatial = training_transform(crop)
    for crop.scale in (SCALES[0], SCALES[-1]):
        for crop.crop_position in st.CROP_POSITIONS:
            spatial.transforms[1].p = random.random()
            assert torch.equal(native_clip(spatial, folder, [1, 2, 3, 4]),
                               reference_clip(spatial, folder, [1, 2, 3, 4]))


@pytest.mark.parametrize('size', [16, 112, 171])
def test_validation_and_test_clips_are_the_references(footage, simd, size, python_path):
    """Scale of the shorter side, then the centre crop (validation) or a corner crop (the
    test pass, --scale_in_test below 1): the frame scaled and a window of it kept."""
    frames = [1, 2, 3, 1]
    for scale_to in (size, int(size / 0.8)):
        for crop in [st.CenterCrop(size)] + [st.CornerCrop(size, p) for p in st.CROP_POSITIONS]:
            spatial = st.Compose([st.Scale(scale_to), crop, st.ToTensor(255),
                                  st.Normalize((0.4, 0.4, 0.4), (0.2, 0.2, 0.2))])
            clip = native_clip(spatial, footage, frames)
            with python_path:
                assert torch.equal(clip, reference_clip(spatial, footage, frames)), \
                    (scale_to, type(crop).__name__, getattr(crop, 'crop_position', 'c'))


def test_a_crop_larger_than_the_scaled_frame_is_left_to_python(footage):
    """PIL pads such a crop with black: the core has no plan for it."""
    spatial = st.Compose([st.Scale(112), st.CenterCrop(300), st.ToTensor(1)])
    paths = [frame_path(footage, 1)]
    assert native.clip_from_jpegs(paths, [1], plan(spatial)) is None


def test_the_validation_set_takes_the_core_through_its_getitem(tmp_path, python_path):
    dataset = one_video_dataset(tmp_path, (97, 66), dict(quality=90))
    dataset.spatial_transform = st.Compose([st.Scale(40), st.CenterCrop(40), st.ToTensor(1),
                                            st.Normalize((110, 100, 90), (1, 1, 1))])
    assert dataset.native_clip(dataset.video_dir(0), [1, 2, 3, 4]) is not None
    with_core = dataset[0][0]
    with python_path:
        assert torch.equal(with_core, dataset[0][0])


# Which kinds of frame the core decodes itself (the others go to the Python path).
DECODED_NATIVELY = {'4:2:0', '4:2:2', '4:4:4'}


@pytest.mark.parametrize('kind', list(FRAME_KINDS))
def test_each_kind_of_frame_gives_the_python_paths_clip(tmp_path, python_path, kind):
    """What the core decodes and what it leaves to the Python path give the same clip
    through the dataset's __getitem__ as the Python path does."""
    decoded_natively = kind in DECODED_NATIVELY
    dataset = one_video_dataset(tmp_path, (97, 66), FRAME_KINDS[kind])
    crop = dataset.spatial_transform.transforms[0]
    paths = [frame_path(dataset.video_dir(0), i) for i in range(1, 5)]
    for crop.scale in (SCALES[0], SCALES[2]):
        for crop.crop_position in ('c', 'br'):
            random.seed(1)
            with_core = dataset[0][0]
            assert (native.clip_from_jpegs(paths, [1, 2, 3, 4],
                                           plan(dataset.spatial_transform)) is not None) \
                == decoded_natively
            random.seed(1)
            with python_path:
                assert torch.equal(with_core, dataset[0][0])


def one_video_dataset(root, size, save, n_frames=4, skip_damaged=True):
    video_path, annotation = labelled_layout(str(root), ['a'], [('a', 'training', n_frames)])
    folder = os.path.join(video_path, 'a', 'v000')
    shutil.rmtree(folder)
    write_frames(folder, n_frames, size, **save)
    with open(os.path.join(folder, 'n_frames'), 'w') as f:
        f.write(str(n_frames))
    crop = st.MultiScaleCornerCrop(SCALES, 40)
    # The crop's parameters are set by the tests; the flip is drawn from the seed.
    crop.randomize_parameters = lambda: None
    return dataset_class('ucf101')(video_path, annotation, 'training',
                                   spatial_transform=training_transform(crop),
                                   temporal_transform=LoopPadding(n_frames),
                                   sample_duration=n_frames, skip_damaged=skip_damaged)


def test_frames_of_different_sizes_in_one_clip(tmp_path, python_path):
    folder = str(tmp_path / 'v')
    write_frames(folder, 4, (97, 66), quality=90)
    write_frames(str(tmp_path / 'other'), 1, (80, 60), quality=90)
    shutil.copy(frame_path(str(tmp_path / 'other'), 1), frame_path(folder, 3))
    spatial = training_transform(st.MultiScaleCornerCrop(SCALES, 24))
    paths = [frame_path(folder, i) for i in range(1, 5)]
    assert native.clip_from_jpegs(paths, [1, 2, 3, 4], plan(spatial)) is None
    with python_path:
        expected = reference_clip(spatial, folder, [1, 2, 3, 4])
    assert torch.equal(transform_clip(spatial, tensor_video_loader(folder, [1, 2, 3, 4]),
                                      randomized=True), expected)


def test_loop_padding_repeats_a_frame_without_decoding_it_again(footage):
    crop = st.MultiScaleCornerCrop(SCALES, 64)
    spatial = training_transform(crop)
    frames = [1, 2, 3, 1, 2, 3, 1, 2]
    clip = native_clip(spatial, footage, frames)
    assert torch.equal(clip, reference_clip(spatial, footage, frames))
    assert torch.equal(clip[:, 0], clip[:, 3]) and torch.equal(clip[:, 1], clip[:, 7])


def test_tensor_frames_from_video_files_take_the_same_resize(footage, simd, python_path):
    """Decoded frames (a video file's, cropped by the decoder or not) through the core give
    the Python path's clip."""
    crop = st.MultiScaleCornerCrop(SCALES, 112)
    spatial = training_transform(crop)
    frames = tensor_video_loader(footage, list(range(1, 9)))
    for crop.scale in (SCALES[0], SCALES[3]):
        for crop.crop_position in ('c', 'tr', 'bl'):
            with_core = spatial.apply_clip(frames)
            box = spatial.decoder_crop_box(427, 240)
            left, top, right, bottom = box
            cropped = [f[:, top:bottom, left:right] for f in frames]
            with_core_cropped = spatial.apply_clip(cropped, cropped=True)
            with python_path:
                expected = spatial.apply_clip(frames)
            assert torch.equal(with_core, expected)
            assert torch.equal(with_core_cropped, expected)


def test_transforms_the_core_does_not_make_are_left_to_python(footage):
    """Anything but crop, flip, ToTensor and Normalize: no plan, the Python path."""
    crop = st.MultiScaleCornerCrop(SCALES, 32)
    assert plan(training_transform(crop)) is not None
    assert plan(st.Compose([crop, st.ToTensor(1)])) is not None
    nearest = st.MultiScaleCornerCrop(SCALES, 32, interpolation=Image.NEAREST)
    assert plan(st.Compose([nearest, st.ToTensor(1)])) is None
    assert plan(st.Compose([st.RandomHorizontalFlip(), crop, st.ToTensor(1)])) is None
    assert plan(st.Compose([crop, st.ToTensor(1), st.Normalize([0, 0], [1, 1])])) is None
    # A step that does not describe itself to the core (the 2020 release's value scaling)
    assert plan(st.Compose([crop, st.ToTensor(255), st.ScaleValues(255)])) is None


# -- damaged and hostile files ------------------------------------------------------------

def outcome(dataset):
    item = dataset[0]
    if isinstance(item, DamagedClip):
        return ('damaged', item.frame, item.reason)
    return ('clip', item[0])


def same(a, b):
    if a[0] != b[0]:
        return False
    return a[1:] == b[1:] if a[0] == 'damaged' else torch.equal(a[1], b[1])


@pytest.mark.slow
def test_fuzzed_frames_are_handled_as_the_python_path_handles_them(tmp_path, footage,
                                                                   python_path):
    """Truncations, bit flips, random bytes, huge or zero declared sizes, cut pieces and
    markers inside the data, in the second frame of a clip, at crops above and below the
    damage: the same clip, or the same damaged frame named, as without the core."""
    rng = random.Random(7)
    dataset = one_video_dataset(tmp_path, (427, 240), dict(quality=75))
    folder = dataset.video_dir(0)
    original = open(frame_path(footage, 5), 'rb').read()
    crop = dataset.spatial_transform.transforms[0]
    counts = {}
    for kind, data in mutations(original, rng):
        with open(frame_path(folder, 2), 'wb') as f:
            f.write(data)
        for crop.crop_position in ('tl', 'br'):
            crop.scale = rng.choice(SCALES)
            random.seed(3)
            with_core = outcome(dataset)
            random.seed(3)
            with python_path:
                expected = outcome(dataset)
            assert same(with_core, expected), (kind, crop.crop_position, with_core[0],
                                               expected[0])
            counts[expected[0]] = counts.get(expected[0], 0) + 1
    assert counts.get('damaged') and counts.get('clip'), counts  # both outcomes were met


def test_a_frame_that_is_missing_is_named_as_before(tmp_path, python_path):
    dataset = one_video_dataset(tmp_path, (97, 66), dict(quality=90))
    os.remove(frame_path(dataset.video_dir(0), 3))
    with_core = outcome(dataset)
    with python_path:
        assert same(with_core, outcome(dataset))
    assert with_core[0] == 'damaged' and with_core[1].endswith('image_00003.jpg')


def test_a_huge_declared_frame_is_not_allocated(tmp_path):
    """A header claiming 65500 x 65500 pixels: the core leaves it to PIL's own limits."""
    folder = str(tmp_path / 'v')
    write_frames(folder, 1, (64, 48), quality=90)
    data = bytearray(open(frame_path(folder, 1), 'rb').read())
    sof = data.find(b'\xff\xc0')
    data[sof + 5:sof + 9] = b'\xff\xdc\xff\xdc'
    open(frame_path(folder, 1), 'wb').write(bytes(data))
    spatial = training_transform(st.MultiScaleCornerCrop(SCALES, 16))
    assert native.clip_from_jpegs([frame_path(folder, 1)], [1], plan(spatial)) is None


def test_main_says_in_one_line_how_to_get_the_core_when_it_is_missing(monkeypatch, capsys):
    import main
    monkeypatch.setattr(native, 'load', lambda: 'native/libclipcore.so is not built')
    main.say_how_training_clips_are_made(False)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'make install' in err[0] and 'not built' in err[0]
    monkeypatch.undo()
    main.say_how_training_clips_are_made(True)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and '--fast_training_clips changes nothing' in err[0]


@pytest.mark.slow
def test_inference_on_frame_folders_gives_the_python_paths_scores(tmp_path, footage):
    """inference.py's clips of a frame folder come from the core, a window a call: the same
    scores as without it (a missing frame still fails the video, as before)."""
    import json
    from tests.test_inference import inference, save_model
    model = save_model(str(tmp_path / 'model.pth'))
    broken = tmp_path / 'broken'
    shutil.copytree(footage, broken)
    os.remove(frame_path(str(broken), 9))
    flags = ['--resume_path', model, '--model_depth', 10, '--resnet_shortcut', 'A',
             '--n_classes', 3, '--no_cuda', '--sample_size', 32, '--sample_duration', 8,
             '--n_threads', 0, '--top_k', 3]
    outputs = {}
    for name, env in (('core', {}), ('python', {'CLIPCORE_DISABLE': '1'})):
        code, _, stderr = inference(footage, broken, '--output', tmp_path / name, *flags,
                                    env=env)
        assert code == 1 and 'image_00009.jpg' in stderr, stderr
        outputs[name] = json.loads((tmp_path / name / 'results.json').read_text())
    assert outputs['core'] == outputs['python']
