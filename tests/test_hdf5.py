"""HDF5 video files and flow (--recipe 2020 --file_type hdf5, --input_type flow): the same
clips as the frame folders the files were packed from, through the native core and without;
flow's two channels; generate_video_hdf5 and the annotation builders; damaged files named
or skipped as frame folders' are."""
import io
import json
import os
import random
import shutil

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

import native
from datasets import hdf5_videos
from datasets.decoding_errors import DamagedFrame
from datasets.hdf5_videos import count_frames, hdf5_frames
from datasets.names import frame_path
from datasets.videodataset import DamagedClip
from tests.conftest import assert_one_line_error, read_log, run_cli
from tests.datagen import write_footage_frames, write_video_file
from tests.jpeg_samples import mutations
from utils import UserError
from utils_scripts.hdf5_files import write_video_hdf5

KINETICS_MEAN, KINETICS_STD = (0.4345, 0.4051, 0.3775), (0.2768, 0.2713, 0.2737)
SMALL = ['--sample_size', 32, '--sample_duration', 8, '--n_threads', 0, '--model', 'resnet',
         '--model_depth', 10, '--resnet_widen_factor', 0.25, '--batch_size', 3, '--n_epochs',
         1, '--no_cuda']


def pack(frames_dir, path, n, flow=False):
    """A frame folder's first n frames as an HDF5 file (flow: u and v made of the frames'
    red and green, as grey JPEGs beside them)."""
    frames = [frame_path(frames_dir, i) for i in range(1, n + 1)]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not flow:
        write_video_hdf5(path, {'video': frames})
        return
    grey = {'video_u': [], 'video_v': []}
    for i, frame in enumerate(frames):
        pixels = np.asarray(Image.open(frame))
        for c, name in enumerate(grey):
            grey[name].append(f'{path}.{name}{i}.jpg')
            Image.fromarray(pixels[:, :, c]).save(grey[name][-1])
    write_video_hdf5(path, grey)


@pytest.fixture(scope='module')
def footage_sets(tmp_path_factory):
    """Four videos of footage (85 x 48, 9-20 frames) as frame folders, HDF5 files and flow
    files, with the release's annotations of each numbering."""
    root = tmp_path_factory.mktemp('hdf5')
    folders = {'jpg': {}, 'hdf5': {}}
    lengths = {'t0': 12, 't1': 20, 'v0': 9, 'v1': 14}
    for k, (key, n) in enumerate(lengths.items()):
        label, subset = 'ab'[k % 2], 'training' if key[0] == 't' else 'validation'
        frames = str(root / 'jpg' / label / key)
        write_footage_frames(frames, n, height=48)
        os.remove(os.path.join(frames, 'n_frames'))
        pack(frames, str(root / 'hdf5' / label / f'{key}.hdf5'), n)
        pack(frames, str(root / 'flow' / label / f'{key}.hdf5'), n, flow=True)
        for kind, first in (('jpg', 1), ('hdf5', 0)):
            folders[kind][key] = {'subset': subset, 'annotations': {
                'label': label, 'segment': [first, first + n]}}
    paths = {}
    for kind, database in folders.items():
        paths[kind] = str(root / f'{kind}.json')
        with open(paths[kind], 'w') as f:
            json.dump({'labels': ['a', 'b'], 'database': database}, f)
    return root, paths


def data(footage_sets, kind, flow=False):
    root, paths = footage_sets
    folder = 'flow' if flow else kind
    return ['--recipe', '2020', '--video_path', root / folder, '--annotation_path',
            paths['hdf5' if flow else kind], '--dataset', 'ucf101', '--n_classes', 2] + (
        ['--file_type', 'hdf5'] if kind == 'hdf5' or flow else []) + (
        ['--input_type', 'flow'] if flow else [])


def release_set(make_opt, flags, purpose='training', more=()):
    from recipes import recipe_of
    opt = make_opt(*flags, *SMALL, *more)
    recipe = recipe_of(opt)
    clips, source = recipe.clip_settings(opt), recipe.data_source(opt)
    return (recipe.training_set if purpose == 'training' else recipe.validation_set)(
        source, clips, skip_damaged=True)


@pytest.fixture(params=['native', 'python'])
def clip_path(request, monkeypatch):
    if request.param == 'python':
        monkeypatch.setattr(native, 'disabled', True)
    elif native.library() is None:
        pytest.skip('the native core is not built here')
    return request.param


@pytest.mark.parametrize('purpose', ['training', 'validation'])
def test_clips_equal_the_frame_folders(footage_sets, make_opt, clip_path, purpose):
    sets = {kind: release_set(make_opt, data(footage_sets, kind), purpose)
            for kind in ('jpg', 'hdf5')}
    assert len(sets['jpg']) == len(sets['hdf5']) > 0
    for i in range(len(sets['jpg'])):
        clips = []
        for kind in ('jpg', 'hdf5'):
            random.seed(i)
            torch.manual_seed(i)
            clips.append(sets[kind][i][0])
        assert torch.equal(*clips), i


def test_flow_clips_are_the_first_two_channels_of_u_v_v(footage_sets, make_opt):
    dataset = release_set(make_opt, data(footage_sets, 'hdf5', flow=True), 'validation')
    clip, _ = dataset[0]
    assert clip.shape == (2, 8, 32, 32)
    root, _ = footage_sets
    path = os.path.join(dataset.video_path, dataset.folders[dataset.span_video[0]])
    frames = hdf5_frames(path, [0], 0, flow=True)
    u, v, third = frames[0].split()
    assert np.array_equal(np.asarray(v), np.asarray(third))
    # The release's validation transform by hand on that frame: Resize to 32 high, centre
    # crop, [0, 1], the first two Kinetics means and stds.
    w, h = frames[0].size
    image = frames[0].resize((int(32 * w / h), 32), Image.BILINEAR)
    left = round((image.size[0] - 32) / 2)
    pixels = torch.tensor(np.asarray(image.crop((left, 0, left + 32, 32)))).permute(2, 0, 1)
    expected = (pixels[:2].float() / 255 - torch.tensor(KINETICS_MEAN[:2])[:, None, None]) / \
        torch.tensor(KINETICS_STD[:2])[:, None, None]
    assert torch.allclose(clip[:, 0], expected, atol=1e-6)


@pytest.mark.slow
def test_a_run_from_hdf5_files_is_the_frame_folders_run(footage_sets, tmp_path, capsys):
    """Training, validation and --inference: the same logs and scores (segments numbered
    from 0 in the HDF5 run, as the release numbers them)."""
    out = {}
    for kind in ('jpg', 'hdf5'):
        out[kind] = tmp_path / kind
        code, err = run_cli(capsys, *data(footage_sets, kind), *SMALL, '--inference',
                            '--inference_no_average', '--result_path', out[kind])
        assert code == 0, err
    for log in ('train.log', 'val.log'):
        assert read_log(out['jpg'] / log) == read_log(out['hdf5'] / log)
    results = [json.load(open(out[k] / 'val.json'))['results'] for k in ('jpg', 'hdf5')]
    for key, windows in results[0].items():
        assert [w['result'] for w in windows] == [w['result'] for w in results[1][key]]
        assert [[a + 1 for a in w['segment']] for w in results[1][key]] == \
            [w['segment'] for w in windows]


@pytest.mark.slow
def test_a_flow_model_trains_records_flow_and_inference_applies_it(footage_sets, tmp_path,
                                                                   capsys):
    code, err = run_cli(capsys, *data(footage_sets, 'hdf5', flow=True), *SMALL,
                        '--result_path', tmp_path / 'run')
    assert code == 0, err
    saved = torch.load(tmp_path / 'run' / 'save_1.pth', weights_only=True)
    assert saved['state_dict']['conv1.weight'].shape[1] == 2
    assert saved['settings']['input_type'] == 'flow'
    root, _ = footage_sets
    import inference
    with pytest.raises(SystemExit) as e:
        inference.main(['--resume_path', str(tmp_path / 'run' / 'save_1.pth'), '--output',
                        str(tmp_path / 'scores'), str(root / 'flow'), '--no_cuda',
                        '--n_threads', '0'])
    assert e.value.code in (0, None), capsys.readouterr().err
    results = json.load(open(tmp_path / 'scores' / 'results.json'))['results']
    assert set(results) == {'a/t0', 'b/t1', 'a/v0', 'b/v1'}


def test_inference_py_on_hdf5_files_scores_as_on_their_frame_folders(footage_sets, tmp_path,
                                                                     capsys):
    from models import resnet
    root, _ = footage_sets
    torch.manual_seed(0)
    checkpoint = tmp_path / 'r.pth'
    torch.save({'epoch': 1, 'arch': 'resnet-10', 'state_dict': resnet.build(
        10, num_classes=2, adaptive_pool=True).state_dict()}, checkpoint)
    import inference
    outputs = []
    for kind in ('jpg', 'hdf5'):
        outputs.append(tmp_path / kind)
        with pytest.raises(SystemExit) as e:
            inference.main(['--recipe', '2020', '--resume_path', str(checkpoint), '--n_classes',
                            '2', '--output', str(outputs[-1]), str(root / kind), '--no_cuda',
                            '--sample_size', '32', '--sample_duration', '8', '--n_threads',
                            '0'])
        assert e.value.code in (0, None), capsys.readouterr().err
    a, b = (json.load(open(o / 'results.json'))['results'] for o in outputs)
    assert a == b and len(a) == 4


# -- damaged and wrong input -----------------------------------------------------------

def copy_set(footage_sets, tmp_path):
    root, paths = footage_sets
    shutil.copytree(root / 'hdf5', tmp_path / 'hdf5')
    shutil.copy(paths['hdf5'], tmp_path / 'hdf5.json')
    return tmp_path / 'hdf5', tmp_path / 'hdf5.json'


@pytest.mark.parametrize('damage, reason', [
    ('not_hdf5', 'is not an HDF5 file'),
    ('truncated', 'is truncated'),
    ('other_dataset', "has no dataset 'video'"),
])
def test_an_unreadable_file_is_skipped_and_named(footage_sets, tmp_path, make_opt, capsys,
                                                 damage, reason):
    video_path, annotation = copy_set(footage_sets, tmp_path)
    path = video_path / 'a' / 't0.hdf5'
    if damage == 'not_hdf5':
        path.write_bytes(b'\xff\xd8 a JPEG, perhaps')
    elif damage == 'truncated':
        path.write_bytes(path.read_bytes()[:3000])
    else:
        path.unlink()
        with h5py.File(path, 'w') as f:
            f.create_dataset('frames', data=np.zeros(3))
    flags = ['--recipe', '2020', '--video_path', video_path, '--annotation_path', annotation,
             '--dataset', 'ucf101', '--n_classes', 2, '--file_type', 'hdf5']
    dataset = release_set(make_opt, flags)
    err = capsys.readouterr().err
    assert f'skipped {path}' in err and reason in err
    assert [v for v, _ in dataset.skipped_videos] == ['a/t0']


def test_a_frame_that_is_no_jpeg_is_a_damaged_clip_named_by_file_and_frame(
        footage_sets, tmp_path, make_opt):
    video_path, annotation = copy_set(footage_sets, tmp_path)
    path = str(video_path / 'b' / 't1.hdf5')
    with h5py.File(path, 'r+') as f:
        data = f['video']
        for i in range(len(data)):
            data[i] = np.frombuffer(b'not a jpeg at all', dtype=np.uint8)
    flags = ['--recipe', '2020', '--video_path', video_path, '--annotation_path', annotation,
             '--dataset', 'ucf101', '--n_classes', 2, '--file_type', 'hdf5']
    dataset = release_set(make_opt, flags)
    items = [dataset[i] for i in range(len(dataset))]
    damaged = [item for item in items if isinstance(item, DamagedClip)]
    assert len(damaged) == 1 and damaged[0].frame.startswith(f'{path} frame ')
    assert 'corrupt' in damaged[0].reason


@pytest.mark.parametrize('core', [True, False])
def test_fuzzed_entries_give_the_frame_folders_clip_or_damage(footage_sets, tmp_path, make_opt,
                                                              monkeypatch, core):
    """Damaged JPEG bytes as an entry of the file and as the frame folder's file: the same
    clip, or both clips damaged, through the native core and through the Python path."""
    if core and native.library() is None:
        pytest.skip('the native core is not built here')
    monkeypatch.setattr(native, 'disabled', not core)
    root, paths = footage_sets
    video_path, annotation = copy_set(footage_sets, tmp_path)
    shutil.copytree(root / 'jpg', tmp_path / 'jpg')
    path, frame = str(video_path / 'a' / 't0.hdf5'), frame_path(str(tmp_path / 'jpg/a/t0'), 3)
    with h5py.File(path, 'r') as f:
        original = f['video'][2].tobytes()
    sets = {}
    for kind, folder, annotations in (('hdf5', video_path, annotation),
                                      ('jpg', tmp_path / 'jpg', paths['jpg'])):
        sets[kind] = release_set(make_opt, ['--recipe', '2020', '--video_path', folder,
                                            '--annotation_path', annotations, '--dataset',
                                            'ucf101', '--n_classes', 2, '--file_type', kind])
    index = [i for i in range(len(sets['jpg'])) if sets['jpg'].folders[
        sets['jpg'].span_video[sets['jpg'].sample_span[i]]] == 'a/t0'][0]
    rng = random.Random(3)
    outcomes = set()
    for n, (kind, data) in enumerate(mutations(original, rng, rounds=30)):
        hdf5_videos.OPEN.forget(path)  # (a file held open for reading cannot be written)
        with h5py.File(path, 'r+') as f:
            f['video'][2] = np.frombuffer(data, dtype=np.uint8)
        with open(frame, 'wb') as f:
            f.write(data)
        results = []
        for dataset in sets.values():
            random.seed(n)
            torch.manual_seed(n)
            item = dataset[index]
            results.append(('damaged', item.reason.split(' ')[0])
                           if isinstance(item, DamagedClip) else ('clip', item[0]))
        assert results[0][0] == results[1][0], (kind, n)
        if results[0][0] == 'clip':
            assert torch.equal(results[0][1], results[1][1]), (kind, n)
        outcomes.add(results[0][0])
    assert outcomes == {'clip', 'damaged'}


def test_a_segment_past_the_end_stops_at_the_last_frame_and_is_said(
        footage_sets, tmp_path, make_opt, capsys):
    video_path, annotation = copy_set(footage_sets, tmp_path)
    content = json.loads(annotation.read_text())
    content['database']['t0']['annotations']['segment'] = [1, 13]  # the release's UCF form
    annotation.write_text(json.dumps(content))
    flags = ['--recipe', '2020', '--video_path', video_path, '--annotation_path', annotation,
             '--dataset', 'ucf101', '--n_classes', 2, '--file_type', 'hdf5']
    dataset = release_set(make_opt, flags)
    err = capsys.readouterr().err
    assert 'end past their HDF5 file' in err and 'a/t0' in err
    assert all(not isinstance(dataset[i], DamagedClip) for i in range(len(dataset)))
    span = [s for s in range(len(dataset.span_video))
            if dataset.folders[dataset.span_video[s]] == 'a/t0.hdf5'][0]
    assert (dataset.span_begin[span], dataset.span_end[span]) == (1, 12)


def test_a_frame_number_past_the_end_is_a_missing_frame(footage_sets):
    root, _ = footage_sets
    path = str(root / 'hdf5' / 'a' / 't0.hdf5')
    with pytest.raises(DamagedFrame) as e:
        hdf5_frames(path, [10, 11, 12], 0)
    assert 'missing' in str(e.value) and 'frame 12' in str(e.value)


def test_a_video_shorter_than_a_clip_is_loop_padded(footage_sets, make_opt):
    root, _ = footage_sets
    dataset = release_set(make_opt, data(footage_sets, 'hdf5'), 'validation',
                          more=['--sample_duration', 16])
    assert all(dataset[i][0].shape[1] == 16 for i in range(len(dataset)))


@pytest.mark.parametrize('flags, fragments', [
    (['--recipe', '2020', '--input_type', 'flow'], ['--input_type', '--file_type hdf5']),
])
def test_flow_without_hdf5_files_is_one_line(tmp_path, capsys, flags, fragments):
    code, err = run_cli(capsys, '--no_cuda', '--result_path', tmp_path / 'out', *flags)
    assert_one_line_error(code, err, *fragments)


def test_frame_folders_under_an_hdf5_annotation_are_told_which_to_give(footage_sets,
                                                                       make_opt):
    root, paths = footage_sets
    flags = ['--recipe', '2020', '--video_path', root / 'jpg', '--annotation_path',
             paths['hdf5'], '--dataset', 'ucf101', '--n_classes', 2]
    with pytest.raises(UserError) as e:
        release_set(make_opt, flags)
    assert '--file_type hdf5' in str(e.value) and 'frame 0' in str(e.value)


def test_auto_finds_hdf5_files(footage_sets, make_opt):
    root, paths = footage_sets
    dataset = release_set(make_opt, ['--recipe', '2020', '--video_path', root / 'hdf5',
                                     '--annotation_path', paths['hdf5'], '--dataset',
                                     'ucf101', '--n_classes', 2])
    assert dataset.input_format == 'hdf5'


# -- making the files -------------------------------------------------------------------

@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp('videos')
    write_video_file(str(root / 'a' / 'wide.mp4'), 12, size=(96, 64))
    write_video_file(str(root / 'b' / 'tall.avi'), 9, size=(48, 80))
    return root


def test_generate_video_hdf5_holds_the_frames_the_jpg_extractor_writes(videos, tmp_path):
    """Every entry decodes to the frame generate_video_jpgs writes; a second run does
    nothing."""
    from utils_scripts import generate_video_hdf5, generate_video_jpgs
    assert generate_video_hdf5.main([str(videos), str(tmp_path / 'h5'), 'ucf101',
                                     '--size', '32']) == 0
    assert generate_video_jpgs.main([str(videos), str(tmp_path / 'jpg'), 'ucf101',
                                     '--size', '32']) == 0
    for name in ('a/wide', 'b/tall'):
        with h5py.File(tmp_path / 'h5' / f'{name}.hdf5') as f:
            entries = list(f['video'])
        folder = tmp_path / 'jpg' / name
        assert len(entries) == len(os.listdir(folder))
        for i, entry in enumerate(entries, 1):
            decoded = np.asarray(Image.open(io.BytesIO(entry.tobytes())))
            assert np.array_equal(decoded, np.asarray(Image.open(frame_path(folder, i))))
        assert min(decoded.shape[:2]) == 32
    assert sorted(os.listdir(tmp_path / 'h5' / 'a')) == ['wide.hdf5']  # nothing else left
    assert generate_video_hdf5.main([str(videos), str(tmp_path / 'h5'), 'ucf101']) == 0


def test_a_video_that_fails_is_named_counted_and_leaves_no_file(videos, tmp_path, capsys):
    from utils_scripts import generate_video_hdf5
    source = tmp_path / 'src'
    shutil.copytree(videos, source)
    (source / 'a' / 'broken.mp4').write_bytes(b'\x00' * 2000)
    code = generate_video_hdf5.main([str(source), str(tmp_path / 'h5'), 'ucf101'])
    out = capsys.readouterr().out
    assert code == 1 and '2 videos converted' in out and '1 failed' in out
    assert 'broken.mp4' in out
    assert sorted(os.listdir(tmp_path / 'h5' / 'a')) == ['wide.hdf5']


def test_the_annotation_builders_count_hdf5_files_from_0(footage_sets, tmp_path):
    from utils_scripts.segments import add_segments
    root, _ = footage_sets
    database = {'t0': {'annotations': {'label': 'a'}}, 'v0': {'annotations': {'label': 'a'}},
                'gone': {'annotations': {'label': 'b'}}}
    assert add_segments(database, str(root / 'hdf5')) == 1
    assert database['t0']['annotations']['segment'] == [0, 12]
    assert database['v0']['annotations']['segment'] == [0, 9]
    flow = {'t1': {'annotations': {'label': 'b'}}}
    add_segments(flow, str(root / 'flow'))
    assert flow['t1']['annotations']['segment'] == [0, 20]
    folders = {'t0': {'annotations': {'label': 'a'}}}
    add_segments(folders, str(root / 'jpg'))
    assert folders['t0']['annotations']['segment'] == [1, 13]


def test_count_frames_of_a_flow_file_needs_flow(footage_sets):
    root, _ = footage_sets
    n, *_, error = count_frames(str(root / 'flow' / 'a' / 't0.hdf5'))
    assert n == 0 and 'give --input_type flow' in error
    assert count_frames(str(root / 'flow' / 'a' / 't0.hdf5'), flow=True)[0] == 12


def test_the_cvpr2018_recipe_reads_hdf5_files_numbering_frames_from_1(tmp_path, make_opt):
    """--input_format hdf5 under the CVPR 2018 recipe: frame k is entry k - 1 and the file's
    length stands for n_frames: the test pass's clips equal the frame folders'."""
    from tests.conftest import dataset_of, ucf_like
    import spatial_transforms as st
    import target_transforms as tgt
    import temporal_transforms as tt
    video_path, annotation_path = ucf_like(tmp_path, train=1, val=1)
    hdf5 = tmp_path / 'hdf5'
    for label in 'abc':
        for key in os.listdir(os.path.join(video_path, label)):
            folder = os.path.join(video_path, label, key)
            n = int(open(os.path.join(folder, 'n_frames')).read())
            pack(folder, str(hdf5 / label / f'{key}.hdf5'), n)
    sets = []
    for folder, fmt in ((video_path, 'frames'), (hdf5, 'hdf5')):
        opt = make_opt('--video_path', folder, '--annotation_path', annotation_path,
                       '--dataset', 'ucf101', '--n_classes', 3, '--sample_size', 32,
                       '--sample_duration', 8, '--input_format', fmt)
        sets.append(dataset_of(opt, 'test', (st.Compose([st.Scale(32), st.CenterCrop(32),
                                                          st.ToTensor(1)]),
                                             tt.LoopPadding(8), tgt.VideoID())))
    assert len(sets[0]) == len(sets[1]) > 0
    for i in range(len(sets[0])):
        assert torch.equal(sets[0][i][0], sets[1][i][0])
        assert sets[0].target_record(i)['frame_indices'] == \
            sets[1].target_record(i)['frame_indices']
