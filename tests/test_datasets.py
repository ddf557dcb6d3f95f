"""Dataset layouts and sampling (docs/data.md), clip contents, and bad data."""
import math
import os
import shutil

import numpy as np
import pytest

from datasets import ActivityNet, Kinetics, UCF101
from recipes.cvpr2018 import test_transforms as make_test_transforms
from recipes.cvpr2018 import training_transforms, validation_transforms
from datasets.videodataset import VideoDataset
from tests.datagen import activitynet_layout, labelled_layout, write_video
from utils import UserError
from tests.conftest import clips_of, dataset_of


def reference_windows(n_frames, n_samples, duration):
    """The sampling rules for kinetics/ucf101/hmdb51, written as the reference's loop (but
    for a one-frame video, which gets one clip here and none in the reference)."""
    if n_samples == 1:
        return [(1, n_frames)]
    step = max(1, math.ceil((n_frames - 1 - duration) / (n_samples - 1))) if n_samples > 1 \
        else duration
    return [(j, min(n_frames + 1, j + duration) - j) for j in range(1, max(n_frames, 2), step)]


def samples(dataset):
    return [(dataset.video_ids[dataset.span_video[s]], int(b), int(n))
            for s, b, n in zip(dataset.sample_span, dataset.sample_start, dataset.sample_length)]


@pytest.fixture(scope='module')
def ucf(tmp_path_factory):
    lengths = [1, 2, 7, 8, 9, 16, 17, 23, 40, 41, 100]
    root = str(tmp_path_factory.mktemp('ucf'))
    videos = [('walk' if i % 2 else 'run', 'validation', n) for i, n in enumerate(lengths)]
    videos += [('run', 'training', 12), ('walk', 'training', 5)]
    video_path, annotation_path = labelled_layout(root, ['run', 'walk'], videos,
                                                  size=(40, 30))
    return video_path, annotation_path, lengths


@pytest.mark.parametrize('n_samples', [0, 1, 2, 3, 5])
@pytest.mark.parametrize('duration', [4, 8, 16])
def test_sampling_formulas(ucf, n_samples, duration):
    video_path, annotation_path, lengths = ucf
    dataset = UCF101(video_path, annotation_path, 'validation', n_samples,
                     sample_duration=duration)
    expected = [(f'v{i:03d}', start, length) for i, n in enumerate(lengths)
                for start, length in reference_windows(n, n_samples, duration)]
    assert samples(dataset) == expected  # annotation order, a video's clips consecutive


def test_classes_labels_and_training_samples(ucf):
    video_path, annotation_path, _ = ucf
    dataset = UCF101(video_path, annotation_path, 'training')
    assert dataset.class_names == ['run', 'walk']
    assert samples(dataset) == [('v011', 1, 12), ('v012', 1, 5)]
    assert list(dataset.span_label) == [0, 1]


def test_items_hold_the_right_frames(ucf, make_opt):
    video_path, annotation_path, _ = ucf
    opt = make_opt('--dataset', 'ucf101', '--video_path', video_path, '--annotation_path',
                   annotation_path, '--sample_size', 16, '--sample_duration', 4,
                   '--no_mean_norm', '--n_val_samples', 3)
    spatial, _, target = validation_transforms(clips_of(opt))
    dataset = UCF101(video_path, annotation_path, 'validation', 3, spatial,
                     None, target, sample_duration=4)
    for index in range(len(dataset)):
        clip, label = dataset[index]
        record = dataset.target_record(index)
        red = clip[0].mean(dim=(1, 2))  # red = frame number
        assert np.allclose(red.numpy(), record['frame_indices'], atol=2)
        assert label == dataset.span_label[dataset.sample_span[index]]


def test_kinetics_ids_test_folder_and_targets(tmp_path, make_opt):
    video_path, annotation_path = labelled_layout(
        str(tmp_path), ['a', 'b'], [('a', 'training', 10), ('b', 'testing', 20),
                                    ('b', 'testing', 5)], kinetics=True)
    opt = make_opt('--video_path', video_path, '--annotation_path', annotation_path,
                   '--sample_size', 16, '--sample_duration', 8, '--test_subset', 'test',
                   '--n_classes', 2)
    test_set = dataset_of(opt, 'test', make_test_transforms(clips_of(opt)))
    assert [s[0] for s in samples(test_set)] == ['v001', 'v001', 'v001', 'v002']
    assert test_set.video_dir(0).endswith(os.path.join('test', 'v001_000010_000020'))
    clip, video_id = test_set[0]
    assert clip.shape == (3, 8, 16, 16) and video_id == 'v001'
    train_set = dataset_of(opt, 'training', training_transforms(clips_of(opt)))
    clip, label = train_set[0]
    assert clip.shape == (3, 8, 16, 16) and label == 0


def test_transforms_do_not_grow_the_index(ucf, make_opt):
    """The reference's LoopPadding grew the stored frame lists."""
    video_path, annotation_path, _ = ucf
    opt = make_opt('--sample_size', 16, '--sample_duration', 16)
    spatial, temporal, target = validation_transforms(clips_of(opt))
    dataset = UCF101(video_path, annotation_path, 'validation', 3, spatial, temporal,
                     target, 16)
    before = samples(dataset)
    for i in range(len(dataset)):
        assert dataset[i][0].shape[1] == 16
    assert samples(dataset) == before


def test_single_validation_clip_is_centred_and_batchable(ucf, make_opt):
    from torch.utils.data import DataLoader
    video_path, annotation_path, lengths = ucf
    opt = make_opt('--dataset', 'ucf101', '--video_path', video_path, '--annotation_path',
                   annotation_path, '--sample_size', 16, '--sample_duration', 8,
                   '--n_val_samples', 1, '--no_mean_norm')
    dataset = dataset_of(opt, 'validation', validation_transforms(clips_of(opt)))
    clips, _ = next(iter(DataLoader(dataset, batch_size=len(dataset))))
    assert clips.shape == (len(lengths), 3, 8, 16, 16)
    red = clips[-1, 0].mean(dim=(1, 2)).numpy()  # 100 frames: centre 50 - 4 = 46 -> 47..54
    assert np.allclose(red, range(47, 55), atol=2)


# -- activitynet -----------------------------------------------------------------------

@pytest.fixture
def anet(tmp_path):
    videos = [
        ('training', 60, 10.0, [('run', 0.0, 2.0), ('swim', 2.5, 5.7), ('jump', 5.0, 5.5)]),
        ('validation', 80, 10.0, [('jump', 1.04, 6.5)]),
        ('validation', 30, 10.0, [('run', 0.5, 6.0)]),  # runs past the last frame
    ]
    return activitynet_layout(str(tmp_path), videos)


def test_activitynet_classes_are_taxonomy_leaves(anet):
    dataset = ActivityNet(*anet, 'training', sample_duration=4)
    assert dataset.class_names == ['run', 'jump', 'swim']


def test_activitynet_training_segments(anet):
    dataset = ActivityNet(*anet, 'training', sample_duration=8)
    # run: ceil(0)=0 -> 1 ... 20 (frames 1-19); swim: 25 ... 57 (25-56);
    # jump: 50 ... 55, 5 frames < 8, dropped.
    assert [(int(b), int(n)) for b, n in zip(dataset.sample_start, dataset.sample_length)] \
        == [(1, 19), (25, 32)]
    assert [dataset.class_names[int(label)] for label in dataset.span_label[
        dataset.sample_span]] == ['run', 'swim']
    assert dataset.target_record(0)['segment'] == [1, 20]


def test_activitynet_short_clips_dropped_by_sample_duration(anet):
    """The reference dropped clips under 16 frames whatever sample_duration."""
    dataset = ActivityNet(*anet, 'training', sample_duration=4)
    assert len(dataset) == 3  # the 5-frame segment is kept for 4-frame clips


def test_activitynet_validation_windows(anet):
    dataset = ActivityNet(*anet, 'validation', n_samples_for_each_video=3, sample_duration=8)
    # video 1: begin ceil(10.4)=11, end 65, n = 54: step ceil((54-1-8)/2) = 23 -> 11, 34, 57;
    # each 8 frames (57 runs past the segment end 65 but frames exist up to 80).
    # video 2: begin 5, end 60, frames 1-30 on disk: step ceil((55-9)/2)=23 -> 5, 28, 51:
    # 28 -> frames 28-30 only (3 < 8) dropped; 51 -> none.
    assert samples(dataset) == [('a001', 11, 8), ('a001', 34, 8), ('a001', 57, 8),
                                ('a002', 5, 8)]


def test_activitynet_untrimmed_test(anet):
    dataset = ActivityNet(*anet, 'validation', untrimmed=True,
                          n_samples_for_each_video=0, sample_duration=8)
    # begin 1, end = last frame: 80 -> starts 1, 9, ..., 73; 30 -> 1, 9, 17 (25: 6 left)
    assert samples(dataset) == [('a001', s, 8) for s in range(1, 80, 8)] + \
        [('a002', s, 8) for s in (1, 9, 17)]


def test_activitynet_cuts_at_missing_frame(anet):
    video_path, _ = anet
    os.remove(os.path.join(video_path, 'v_a001', 'image_00040.jpg'))
    dataset = ActivityNet(*anet, 'validation', n_samples_for_each_video=3, sample_duration=8)
    # 34 -> frames 34..39 (6 < 8): dropped
    assert samples(dataset)[:3] == [('a001', 11, 8), ('a001', 57, 8), ('a002', 5, 8)]


# -- bad data --------------------------------------------------------------------------

def test_missing_videos_are_skipped_and_counted(tmp_path, capsys):
    video_path, annotation_path = labelled_layout(
        str(tmp_path), ['a'], [('a', 'training', 5)] * 4)
    import shutil
    shutil.rmtree(os.path.join(video_path, 'a', 'v001'))
    shutil.rmtree(os.path.join(video_path, 'a', 'v002'))
    write_video(os.path.join(video_path, 'a', 'v003'), 0)
    dataset = Kinetics(video_path, annotation_path, 'training')
    assert len(dataset) == 1
    out = capsys.readouterr().out
    assert 'skipped 2 of 4 videos with no frame folder' in out and '1 with no frames' in out
    assert out.count('\n') == 1


def test_missing_n_frames_names_folder(tmp_path):
    video_path, annotation_path = labelled_layout(str(tmp_path), ['a'], [('a', 'training', 5)])
    os.remove(os.path.join(video_path, 'a', 'v000', 'n_frames'))
    with pytest.raises(UserError, match=r'a/v000 has no n_frames file'):
        Kinetics(video_path, annotation_path, 'training')


@pytest.mark.parametrize('damage', ['missing', 'corrupt', 'truncated'])
def test_bad_frame_names_the_file(tmp_path, damage):
    video_path, annotation_path = labelled_layout(str(tmp_path), ['a'], [('a', 'training', 5)])
    frame = os.path.join(video_path, 'a', 'v000', 'image_00003.jpg')
    if damage == 'missing':
        os.remove(frame)
    elif damage == 'corrupt':
        with open(frame, 'wb') as f:
            f.write(b'not a jpeg at all')
    else:
        data = open(frame, 'rb').read()
        with open(frame, 'wb') as f:
            f.write(data[:len(data) // 2])
    dataset = Kinetics(video_path, annotation_path, 'training')
    with pytest.raises(UserError, match=f'{damage if damage == "missing" else "corrupt"} '
                                        r'frame .*image_00003.jpg'):
        dataset[0]


@pytest.mark.parametrize('content,message', [
    ('{"labels": ["a"], "database": {', r'not valid JSON: .* line 1 column'),
    ('[1, 2]', 'no "database"'),
    ('{"database": {}}', 'no "labels"'),
    ('{"labels": ["a"], "database": {"v0": 3}}', "'v0' is not an object"),
    ('{"labels": ["a"], "database": {"v0": {"subset": "training"}}}', "'v0' has no"),
    ('{"labels": ["a"], "database": {"v0": {"subset": "training", '
     '"annotations": {"label": "zzz"}}}}', "label 'zzz', which is not in"),
])
def test_malformed_annotation_names_file_and_place(tmp_path, content, message):
    path = tmp_path / 'ann.json'
    path.write_text(content)
    (tmp_path / 'jpg').mkdir()
    with pytest.raises(UserError, match=message) as info:
        Kinetics(str(tmp_path / 'jpg'), str(path), 'training')
    assert 'ann.json' in str(info.value)


def test_no_usable_video(tmp_path):
    video_path, annotation_path = labelled_layout(str(tmp_path), ['a'], [('a', 'training', 5),
                                                                         ('a', 'validation', 5)])
    with pytest.raises(UserError, match='has no videos in its testing subset.*--test_subset val'):
        Kinetics(video_path, annotation_path, 'testing')
    shutil.rmtree(os.path.join(video_path, 'a', 'v001'))
    with pytest.raises(UserError, match='no usable video'):
        Kinetics(video_path, annotation_path, 'validation')


def test_missing_video_folder_and_annotation(tmp_path):
    with pytest.raises(UserError, match='video folder not found'):
        Kinetics(str(tmp_path / 'nope'), str(tmp_path / 'a.json'), 'training')
    with pytest.raises(UserError, match='annotation file not found'):
        Kinetics(str(tmp_path), str(tmp_path / 'a.json'), 'training')


def test_index_is_compact(ucf):
    video_path, annotation_path, _ = ucf
    dataset = UCF101(video_path, annotation_path, 'validation', 3, sample_duration=4)
    assert isinstance(dataset, VideoDataset)
    assert not any(isinstance(v, list) and len(v) == len(dataset) for v in
                   vars(dataset).values())
    assert dataset.index_nbytes < 100 * len(dataset) + 2000


def test_a_one_frame_video_still_gets_a_test_clip(tmp_path):
    video_path, annotation_path = labelled_layout(
        str(tmp_path), ['a'], [('a', 'validation', 1), ('a', 'validation', 17)])
    dataset = Kinetics(video_path, annotation_path, 'validation', 0, sample_duration=8)
    windows = [(dataset.target_record(i)['video_id'], dataset.target_record(i)
                ['frame_indices']) for i in range(len(dataset))]
    # 17 frames: windows at 1 and 9 (starts below 17), as the reference; 1 frame: one clip.
    assert windows == [('v000', [1]), ('v001', list(range(1, 9))), ('v001', list(range(9, 17)))]
