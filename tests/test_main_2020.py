"""main.py --recipe 2020: the 2020 release's training, validation, fine-tuning, schedulers,
checkpoints and --inference, on its annotation layout (segments, no n_frames files), checked
against values computed here by hand from the release's rules."""
import collections
import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from datasets.registry import DATASETS
from datasets.segments import SegmentsLayout
from models import resnet
from temporal_transforms import release_windows
from tests.conftest import assert_one_line_error, read_log, run_cli
from tests.datagen import labelled_layout, write_footage_frames
from tests.test_inference import inference
from utils import UserError

KINETICS_MEAN = (0.4345, 0.4051, 0.3775)
KINETICS_STD = (0.2768, 0.2713, 0.2737)
SMALL = ['--model', 'resnet', '--model_depth', 10, '--sample_size', 32, '--sample_duration', 8,
         '--n_threads', 0, '--no_cuda']


# -- where the clips lie ---------------------------------------------------------------------

@pytest.mark.parametrize('n_frames, expected', [
    # stride max(1, ceil((n - 1 - 8) / 2)); the first short clip ends the list
    (1, [(1, 1)]), (7, [(1, 7)]), (8, [(1, 8), (2, 7)]), (15, [(1, 8), (4, 8), (7, 8)]),
    (16, [(1, 8), (5, 8), (9, 8)]), (17, [(1, 8), (5, 8), (9, 8)]),
    (33, [(1, 8), (13, 8), (25, 8)])])
def test_validation_clips_are_spread_as_the_release_spreads_them(n_frames, expected):
    assert release_windows(1, n_frames + 1, 8, n_clips=3) == expected


@pytest.mark.parametrize('n_frames, expected', [
    (1, [(1, 1)]), (7, [(1, 7)]), (15, [(1, 15)]), (16, [(1, 16)]), (17, [(1, 16), (17, 1)]),
    (33, [(1, 16), (17, 16), (33, 1)])])
def test_inference_windows_end_with_the_first_short_one(n_frames, expected):
    assert release_windows(1, n_frames + 1, 16, step=16) == expected


def test_a_temporal_stride_spaces_the_starts_but_not_the_frames_of_a_clip():
    """The release subsamples the frame numbers, then takes consecutive frames from each
    start (up to the last number taken)."""
    # numbers taken: 1, 3, ..., 19; a start every 2nd of them: 1, 5, 9, ...
    assert release_windows(1, 21, 8, t_stride=2, step=2) == [(1, 8), (5, 8), (9, 8),
                                                              (13, 7)]


def test_one_validation_clip_starts_at_the_first_frame():
    """(The release divides by zero.)"""
    assert release_windows(3, 40, 8, n_clips=1) == [(3, 8)]


# -- the annotation layout -------------------------------------------------------------------

def segments_file(tmp_path, database, labels=('a', 'b')):
    path = tmp_path / 'annotation.json'
    path.write_text(json.dumps({'labels': list(labels), 'database': database}))
    return str(path)


def test_segments_give_the_frames_and_test_entries_lie_in_test(tmp_path):
    """An entry's own video_path is relative to the current folder, as the release reads
    it."""
    path = segments_file(tmp_path, {
        'x_000001_000011': {'subset': 'training',
                            'annotations': {'label': 'b', 'segment': [1, 41]}},
        'own': {'subset': 'training', 'video_path': 'elsewhere/own',
                'annotations': {'label': 'a', 'segment': [5, 9]}},
        't': {'subset': 'testing', 'annotations': {'segment': [1, 9]}}})
    layout = SegmentsLayout('kinetics', 'Kinetics')
    data = json.loads(open(path).read())
    labels, videos = layout.read(data, 'training', path)
    assert labels == ['a', 'b']
    # the whole key is the id (the CVPR 2018 Kinetics layout drops the time suffix)
    assert [(v.folder, v.video_id, v.label, v.segments) for v in videos] == [
        ('b/x_000001_000011', 'x_000001_000011', 1, ((1, 1, 41),)),
        (os.path.abspath('elsewhere/own'), 'own', 0, ((0, 5, 9),))]
    _, tests = layout.read(data, 'testing', path)
    assert [(v.folder, v.label) for v in tests] == [('test/t', -1)]
    os.makedirs(tmp_path / 'b' / 'x')
    spans = layout.spans(videos[0]._replace(folder='b/x'), str(tmp_path / 'b' / 'x'))
    assert spans == ([(1, 1, 41)], [41])
    assert layout.spans(videos[1], str(tmp_path / 'missing')) is None


def test_a_labelled_subset_s_entry_without_a_label_is_named(tmp_path):
    path = segments_file(tmp_path, {'v1': {'subset': 'training',
                                           'annotations': {'segment': [1, 9]}}})
    with pytest.raises(UserError) as e:
        SegmentsLayout('ucf101', 'UCF-101').read(json.loads(open(path).read()), 'training',
                                                 path)
    assert "'v1'" in str(e.value) and 'label' in str(e.value)


@pytest.mark.parametrize('segment', [[-1, 5], [1], 'all', [1, '9']])
def test_a_malformed_segment_names_the_entry(tmp_path, segment):
    path = segments_file(tmp_path, {'v1': {'subset': 'training',
                                           'annotations': {'label': 'a', 'segment': segment}}})
    with pytest.raises(UserError) as e:
        SegmentsLayout('ucf101', 'UCF-101').read(json.loads(open(path).read()), 'training',
                                                 path)
    assert "'v1'" in str(e.value) and 'segment' in str(e.value)


def test_moments_in_time_is_a_dataset_of_the_2020_recipe_only(make_opt, capsys):
    assert 'mit' in DATASETS
    with pytest.raises(SystemExit):
        make_opt('--dataset', 'mit')
    assert 'add --recipe 2020' in capsys.readouterr().err


# -- whole runs --------------------------------------------------------------------------

@pytest.fixture(scope='module')
def footage_set(tmp_path_factory):
    """Frame folders of real-looking footage (85 x 48) in the release's layout: three
    classes, two training videos each, validation videos of 17, 33 and 7 frames."""
    root = tmp_path_factory.mktemp('release2020')
    lengths = {'training': (12, 14), 'validation': (17, 33, 7)}
    database, folders = {}, {}
    for subset, ns in lengths.items():
        for i, n in enumerate(ns):
            for c, label in enumerate('abc'):
                if subset == 'validation' and i != c:
                    continue
                key = f'{subset[0]}{i}{label}'
                folder = root / 'jpg' / label / key
                write_footage_frames(str(folder), n, height=48)
                os.remove(folder / 'n_frames')
                database[key] = {'subset': subset,
                                 'annotations': {'label': label, 'segment': [1, n + 1]}}
                folders[key] = str(folder)
    annotation = root / 'annotation.json'
    annotation.write_text(json.dumps({'labels': list('abc'), 'database': database}))
    return str(root / 'jpg'), str(annotation), folders


def data(footage_set):
    video_path, annotation, _ = footage_set
    return ['--recipe', '2020', '--video_path', video_path, '--annotation_path', annotation,
            '--dataset', 'ucf101', '--n_classes', 3, *SMALL]


def release_checkpoint(path, n_classes=3, epoch=1, milestones=(50, 100, 150), seed=0):
    """A checkpoint in the 2020 release's layout, before its scheduler's step for `epoch`."""
    torch.manual_seed(seed)
    net = resnet.build(10, num_classes=n_classes, adaptive_pool=True)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(milestones))
    for _ in range(epoch - 1):
        optimizer.step()
        scheduler.step()
    torch.save({'epoch': epoch, 'arch': 'resnet-10', 'state_dict': net.state_dict(),
                'optimizer': optimizer.state_dict(), 'scheduler': scheduler.state_dict()}, path)
    return net


def clip_by_hand(folder, first, length, size=32):
    """The release's evaluation clip: frames first.. (loop padded to 8), the shorter side
    resized to `size` (PIL bilinear), the centre crop (offsets rounded), [0, 1], Kinetics
    mean and std."""
    numbers = list(range(first, first + length))
    while len(numbers) < 8:
        numbers += numbers[:8 - len(numbers)]
    frames = []
    for i in numbers:
        image = Image.open(os.path.join(folder, f'image_{i:05d}.jpg')).convert('RGB')
        w, h = image.size
        image = image.resize((int(size * w / h), size), Image.BILINEAR)
        left = round((image.size[0] - size) / 2)
        frames.append(np.asarray(image.crop((left, 0, left + size, size))))
    clip = torch.tensor(np.stack(frames)).permute(3, 0, 1, 2).float() / 255
    mean, std = torch.tensor(KINETICS_MEAN), torch.tensor(KINETICS_STD)
    return (clip - mean[:, None, None, None]) / std[:, None, None, None]


@pytest.mark.slow
def test_validation_loss_is_the_release_s(footage_set, tmp_path, capsys):
    """--no_train --n_epochs 1 with a checkpoint validates once: the mean cross entropy
    over the spread clips of every validation video, as computed here by hand."""
    checkpoint = str(tmp_path / 'model.pth')
    net = release_checkpoint(checkpoint).eval()
    code, err = run_cli(capsys, *data(footage_set), '--resume_path', checkpoint, '--no_train',
                        '--n_epochs', 1, '--result_path', tmp_path / 'out')
    assert code in (0, None), err
    folders = footage_set[2]
    losses, hits = [], []
    for key, label, n in (('v0a', 0, 17), ('v1b', 1, 33), ('v2c', 2, 7)):
        for first, length in release_windows(1, n + 1, 8, n_clips=3):
            with torch.no_grad():
                output = net(clip_by_hand(folders[key], first, length)[None])
            losses.append(F.cross_entropy(output, torch.tensor([label])).item())
            hits.append(int(output.argmax().item() == label))
    rows = read_log(tmp_path / 'out' / 'val.log')
    assert rows[0] == ['epoch', 'loss', 'acc']
    assert float(rows[1][1]) == pytest.approx(np.mean(losses), rel=1e-4)
    assert float(rows[1][2]) == pytest.approx(np.mean(hits))


@pytest.mark.slow
@pytest.mark.parametrize('average', [True, False])
def test_inference_writes_the_release_s_layouts(footage_set, tmp_path, capsys, average):
    checkpoint = str(tmp_path / 'model.pth')
    net = release_checkpoint(checkpoint).eval()
    code, err = run_cli(capsys, *data(footage_set), '--resume_path', checkpoint, '--no_train',
                        '--no_val', '--inference', '--inference_stride', 8, '--output_topk', 2,
                        '--result_path', tmp_path / 'out',
                        *([] if average else ['--inference_no_average']))
    assert code in (0, None), err
    results = json.loads((tmp_path / 'out' / 'val.json').read_text())['results']
    assert list(results) == ['v0a', 'v1b', 'v2c']
    folder = footage_set[2]['v1b']
    windows = release_windows(1, 34, 8, step=8)  # 1, 9, 17, 25 (full), 33 (one frame)
    with torch.no_grad():
        softmaxes = [F.softmax(net(clip_by_hand(folder, s, n)[None]), 1)[0] for s, n in windows]
    if average:
        mean = torch.stack(softmaxes).mean(0)
        top = mean.topk(2)
        assert [r['label'] for r in results['v1b']] == ['abc'[j] for j in top.indices]
        assert [r['score'] for r in results['v1b']] == pytest.approx(top.values.tolist(),
                                                                      abs=1e-5)
    else:
        assert [r['segment'] for r in results['v1b']] == [[s, s + n] for s, n in windows]
        for row, scores in zip(results['v1b'], softmaxes):
            assert len(row['result']) == 2
            assert row['result'][0]['score'] == pytest.approx(scores.max().item(), abs=1e-5)


@pytest.mark.slow
def test_a_second_inference_into_one_folder_keeps_the_first_s_results(footage_set, tmp_path,
                                                                        capsys):
    checkpoint = str(tmp_path / 'model.pth')
    release_checkpoint(checkpoint)
    out = tmp_path / 'out'
    for stride in (8, 16):
        code, err = run_cli(capsys, *data(footage_set), '--resume_path', checkpoint,
                            '--no_train', '--no_val', '--inference', '--inference_stride',
                            stride, '--inference_no_average', '--result_path', out)
        assert code in (0, None), err
    kept = sorted(p.name for p in out.glob('val_*.json'))
    assert len(kept) == 1, sorted(p.name for p in out.iterdir())
    first, second = (json.loads((out / name).read_text())['results'] for name in
                     (kept[0], 'val.json'))
    assert len(first['v1b']) > len(second['v1b'])  # windows every 8 frames, then every 16


@pytest.mark.slow
def test_inference_py_scores_as_main_py_s_inference(footage_set, tmp_path, capsys):
    checkpoint = str(tmp_path / 'model.pth')
    release_checkpoint(checkpoint)
    code, err = run_cli(capsys, *data(footage_set), '--resume_path', checkpoint, '--no_train',
                        '--no_val', '--inference', '--output_topk', 3,
                        '--result_path', tmp_path / 'main')
    assert code in (0, None), err
    expected = json.loads((tmp_path / 'main' / 'val.json').read_text())['results']
    folders = footage_set[2]
    (tmp_path / 'classes.txt').write_text('a\nb\nc\n')
    code, _, stderr = inference(*(folders[k] for k in expected), '--output', tmp_path / 'inf',
                                '--resume_path', checkpoint, '--recipe', '2020',
                                '--model_depth', 10, '--n_classes', 3, '--class_names',
                                tmp_path / 'classes.txt', '--sample_size', 32,
                                '--sample_duration', 8, '--stride', 16, '--top_k', 3,
                                '--no_cuda', '--n_threads', 0)
    assert code == 0, stderr
    results = json.loads((tmp_path / 'inf' / 'results.json').read_text())['results']
    assert len(results) == len(expected)
    for name, rows in results.items():
        key = os.path.basename(name)
        assert [r['label'] for r in rows] == [r['label'] for r in expected[key]]
        assert [r['score'] for r in rows] == pytest.approx(
            [r['score'] for r in expected[key]], abs=1e-6)


@pytest.mark.slow
def test_checkpoints_have_the_release_s_layout_and_resume_exactly(footage_set, tmp_path,
                                                                    capsys):
    """save_N.pth: the epoch done, an unprefixed state dict, the multistep scheduler; a run
    resumed from save_1.pth continues at epoch 2 with the rate the milestone gives, and
    ends with the weights of the run that did not stop."""
    flags = [*data(footage_set), '--batch_size', 2, '--multistep_milestones', 1,
             '--checkpoint', 1, '--learning_rate', 0.01]
    code, err = run_cli(capsys, *flags, '--n_epochs', 2, '--result_path', tmp_path / 'whole')
    assert code in (0, None), err
    saved = torch.load(tmp_path / 'whole' / 'save_1.pth', weights_only=True)
    assert saved['epoch'] == 1 and saved['arch'] == 'resnet-10'
    assert not any(k.startswith('module.') for k in saved['state_dict'])
    assert saved['scheduler']['milestones'] == collections.Counter([1])
    net = resnet.build(10, num_classes=3, adaptive_pool=True)
    net.load_state_dict(saved['state_dict'])  # strictly, as the release's code loads it
    code, err = run_cli(capsys, *flags, '--n_epochs', 2, '--result_path', tmp_path / 'resumed',
                        '--resume_path', tmp_path / 'whole' / 'save_1.pth')
    assert code in (0, None), err
    rows = read_log(tmp_path / 'resumed' / 'train.log')
    assert [r[0] for r in rows[1:]] == ['2'] and float(rows[1][3]) == pytest.approx(0.001)
    whole = torch.load(tmp_path / 'whole' / 'save_2.pth', weights_only=True)['state_dict']
    resumed = torch.load(tmp_path / 'resumed' / 'save_2.pth', weights_only=True)['state_dict']
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


@pytest.mark.slow
def test_a_release_checkpoint_resumes_with_the_rate_of_an_unstopped_run(footage_set,
                                                                       tmp_path, capsys):
    """The release saves before its scheduler steps for the epoch: the step is made here."""
    checkpoint = str(tmp_path / 'save_1.pth')
    release_checkpoint(checkpoint, epoch=1, milestones=(1,))
    code, err = run_cli(capsys, *data(footage_set), '--resume_path', checkpoint, '--n_epochs',
                        2, '--no_val', '--batch_size', 2, '--result_path', tmp_path / 'out')
    assert code in (0, None), err
    rows = read_log(tmp_path / 'out' / 'train.log')
    assert rows[1][0] == '2' and float(rows[1][3]) == pytest.approx(0.01)


@pytest.mark.slow
def test_fine_tuning_trains_from_the_module_on(footage_set, tmp_path, capsys):
    """--pretrain_path with --n_pretrain_classes 7 and --n_classes 3: a new fc; from
    --ft_begin_module layer4 on the weights move, before it they do not, while batch norm
    before it still updates its statistics (the model trains in train mode)."""
    pretrained = str(tmp_path / 'pretrained.pth')
    net = release_checkpoint(pretrained, n_classes=7, epoch=200)
    code, err = run_cli(capsys, *data(footage_set), '--pretrain_path', pretrained,
                        '--n_pretrain_classes', 7, '--ft_begin_module',
                        'layer4', '--n_epochs', 1, '--no_val', '--batch_size', 2,
                        '--result_path', tmp_path / 'out')
    assert code in (0, None), err
    saved = torch.load(tmp_path / 'out' / 'save_1.pth', weights_only=True)
    before, after = net.state_dict(), saved['state_dict']
    assert after['fc.weight'].shape == (3, 512)
    assert torch.equal(before['conv1.weight'], after['conv1.weight'])
    assert torch.equal(before['layer3.0.conv1.weight'], after['layer3.0.conv1.weight'])
    assert not torch.equal(before['layer4.0.conv1.weight'], after['layer4.0.conv1.weight'])
    assert not torch.equal(before['bn1.running_mean'], after['bn1.running_mean'])
    trained = [n for n, _ in net.named_parameters() if n.startswith(('layer4', 'fc'))]
    assert len(saved['optimizer']['param_groups']) == len(trained)  # one group each


@pytest.mark.parametrize('flags, fragments', [
    (['--recipe', '2020', '--begin_epoch', 3], ['--begin_epoch', 'cvpr2018']),
    (['--recipe', '2020', '--n_finetune_classes', 3], ['--n_finetune_classes', 'cvpr2018']),
    (['--lr_scheduler', 'plateau'], ['--lr_scheduler', 'add --recipe 2020']),
    (['--inference'], ['--inference', 'add --recipe 2020']),
    (['--recipe', '2020', '--pretrain_path', 'x.pth'], ['--n_pretrain_classes', '700']),
    (['--recipe', '2020', '--lr_scheduler', 'plateau', '--no_val'], ['plateau', '--no_val']),
    (['--recipe', '2020', '--world_size', 2], ['torchrun']),
    (['--recipe', '2020', '--input_type', 'flow'], ['flow']),
])
def test_a_misplaced_or_unsupported_release_flag_is_one_line(tmp_path, capsys, flags,
                                                             fragments):
    code, err = run_cli(capsys, '--no_cuda', '--result_path', tmp_path / 'out', *flags)
    assert_one_line_error(code, err, *fragments)
    assert not (tmp_path / 'out').exists()


def test_an_unknown_fine_tuning_module_is_named(footage_set, tmp_path, capsys):
    pretrained = str(tmp_path / 'pretrained.pth')
    release_checkpoint(pretrained, n_classes=7)
    code, err = run_cli(capsys, *data(footage_set), '--pretrain_path', pretrained,
                        '--n_pretrain_classes', 7, '--ft_begin_module', 'layer9',
                        '--result_path', tmp_path / 'out')
    assert_one_line_error(code, err, 'layer9', 'layer4')


def test_the_2020_defaults_are_the_release_s(make_opt):
    opt = make_opt('--recipe', '2020')
    assert (opt.train_crop, opt.dampening, opt.mean_dataset, opt.lr_scheduler,
            opt.multistep_milestones) == ('random', 0.0, 'kinetics', 'multistep', [50, 100, 150])
    assert opt.mean == pytest.approx(KINETICS_MEAN) and opt.std == pytest.approx(KINETICS_STD)
    default = make_opt()
    assert (default.train_crop, default.dampening) == ('corner', 0.9)


@pytest.mark.slow
@pytest.mark.parametrize('ext', [None, '.mp4'])
def test_a_small_training_set_of_segments_trains(tmp_path, capsys, ext):
    """The solid-colour layout with segments and no n_frames files, as frame folders and as
    video files: an epoch and --inference end to end."""
    videos = [(c, 'training', 9) for c in 'ab' for _ in range(2)] + [('a', 'validation', 20)]
    video_path, annotation = labelled_layout(str(tmp_path), ['a', 'b'], videos, ext=ext,
                                             segments=True)
    assert not os.path.exists(os.path.join(video_path, 'a', 'v000', 'n_frames'))
    code, err = run_cli(capsys, '--recipe', '2020', '--video_path', video_path,
                        '--annotation_path', annotation, '--dataset', 'ucf101', '--n_classes',
                        2, *SMALL, '--batch_size', 2, '--n_epochs', 1, '--inference',
                        '--inference_no_average', '--result_path', tmp_path / 'out')
    assert code in (0, None), err
    assert [r[0] for r in read_log(tmp_path / 'out' / 'val.log')] == ['epoch', '1']
    results = json.loads((tmp_path / 'out' / 'val.json').read_text())['results']
    assert [r['segment'] for r in results['v004']] == [[1, 9], [17, 21]]


@pytest.mark.parametrize('native_core', [True, False])
def test_a_training_clip_is_the_release_s_random_resized_crop(footage_set, make_opt,
                                                              monkeypatch, native_core):
    """Under fixed seeds: the temporal start and the flip from Python's generator, the box
    from torchvision's get_params on torch's; the box resized by PIL, [0, 1], the Kinetics
    mean and std. The same with the native clip core and without."""
    import random

    import native
    from recipes.release2020 import RECIPE
    from torchvision.transforms import RandomResizedCrop
    made = []
    if native_core:
        if native.library() is None:
            pytest.skip('the native clip core is not built')
        monkeypatch.setattr(native, 'clip_from_jpegs', lambda *a, f=native.clip_from_jpegs:
                            made.append(f(*a)) or made[-1])
    else:
        monkeypatch.setattr(native, 'disabled', True)
    opt = make_opt(*data(footage_set)[:-1])
    dataset = RECIPE.training_set(RECIPE.data_source(opt), RECIPE.clip_settings(opt))
    index = [dataset.video_ids[dataset.span_video[dataset.sample_span[i]]]
             for i in range(len(dataset))].index('t0a')
    random.seed(5), torch.manual_seed(5)
    clip, label = dataset[index]
    random.seed(5), torch.manual_seed(5)
    start = random.randint(0, 12 - 8 - 1)
    flip = random.random() < 0.5
    frames = [Image.open(os.path.join(footage_set[2]['t0a'], f'image_{i:05d}.jpg'))
              .convert('RGB') for i in range(1 + start, 9 + start)]
    top, left, h, w = RandomResizedCrop.get_params(frames[0], (0.25, 1.0), (0.75, 1 / 0.75))
    expected = []
    for frame in frames:
        frame = frame.crop((left, top, left + w, top + h)).resize((32, 32), Image.BILINEAR)
        if flip:
            frame = frame.transpose(Image.FLIP_LEFT_RIGHT)
        expected.append(np.asarray(frame))
    expected = torch.tensor(np.stack(expected)).permute(3, 0, 1, 2).float() / 255
    mean, std = torch.tensor(KINETICS_MEAN), torch.tensor(KINETICS_STD)
    expected = (expected - mean[:, None, None, None]) / std[:, None, None, None]
    assert label == 0 and clip.shape == (3, 8, 32, 32)
    assert torch.allclose(clip, expected, atol=1e-6)
    assert len(made) == native_core and (not made or made[0] is not None)


@pytest.mark.slow
def test_inference_py_features_of_a_2020_model_are_its_pooled_outputs(footage_set, tmp_path):
    """--mode feature with a 2020 checkpoint (a common ask of r3d50_KM_200ep.pth): each
    window's pooled features (the network less its fc) of the release's clip."""
    checkpoint = str(tmp_path / 'model.pth')
    net = release_checkpoint(checkpoint, n_classes=7).eval()
    net.fc = torch.nn.Identity()
    folder = footage_set[2]['v0a']  # 17 frames: windows 1-8, 9-16, 17
    code, _, stderr = inference(folder, '--output', tmp_path / 'out', '--resume_path',
                                checkpoint, '--recipe', '2020', '--model_depth', 10,
                                '--n_classes', 7, '--sample_size', 32, '--sample_duration', 8,
                                '--mode', 'feature', '--no_cuda', '--n_threads', 0)
    assert code == 0, stderr
    features = np.load(tmp_path / 'out' / 'v0a.npy')
    with torch.no_grad():
        expected = [net(clip_by_hand(folder, s, n)[None])[0].numpy()
                    for s, n in release_windows(1, 18, 8, step=8)]
    assert features.shape == (3, 512)
    assert np.allclose(features, np.stack(expected), atol=1e-5)


def test_help_under_a_recipe_lists_its_options_not_the_other_s(capsys):
    from opts import parse_opts
    with pytest.raises(SystemExit):
        parse_opts(['--recipe', '2020', '--help'])
    text = capsys.readouterr().out
    assert '--n_pretrain_classes' in text and '--lr_scheduler' in text
    assert '--begin_epoch' not in text and '--n_finetune_classes' not in text
    with pytest.raises(SystemExit):
        parse_opts(['--help'])  # the default recipe's, and where the other's are
    text = capsys.readouterr().out
    assert '--n_finetune_classes' in text and '--n_pretrain_classes' not in text
    assert '--recipe 2020 --help lists the options of the 2020 release' in ' '.join(text.split())


@pytest.mark.parametrize('program', ['main', 'inference'])
@pytest.mark.parametrize('recipe', ['cvpr2018', '2020'])
def test_help_shows_each_option_once(program, recipe):
    """One entry an option (an alias beside its flag), and no two entries of one text."""
    import argparse

    from opts import build_parser
    from recipes import RECIPES
    actions = [a for a in build_parser(program, RECIPES[recipe])._actions
               if a.help != argparse.SUPPRESS]
    flags = [flag for a in actions for flag in a.option_strings]
    assert len(flags) == len(set(flags)) > 20
    texts = [a.help for a in actions if a.help]
    assert len(texts) == len(set(texts)), sorted(t for t in texts if texts.count(t) > 1)
    sync = next((a for a in actions if a.dest == 'sync_bn'), None)
    assert program == 'inference' and sync is None or \
        sync.option_strings == ['--sync_bn', '--batchnorm_sync'][:2 if recipe == '2020' else 1]
