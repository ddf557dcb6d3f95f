"""End to end on tiny generated datasets (CPU, sample size 32, 8 frames)."""
import json
import os
import subprocess
import sys

import pytest
import torch

from models.checkpoint import load_checkpoint
from tests.conftest import ROOT, TINY, data_flags, read_log, run_main, ucf_like
from tests.datagen import activitynet_layout, labelled_layout
from models.registry import ModelSpec


@pytest.mark.parametrize('dataset', ['ucf101', 'hmdb51', 'kinetics', 'activitynet'])
def test_two_epochs_write_logs_and_checkpoints(tmp_path, dataset):
    if dataset == 'activitynet':
        video_path, annotation_path = activitynet_layout(str(tmp_path), [
            ('training', 40, 10.0, [('run', 0.0, 2.0), ('swim', 2.0, 3.9)]),
            ('training', 30, 10.0, [('jump', 0.5, 2.9)]),
            ('training', 30, 10.0, [('run', 0.2, 2.9)]),
            ('validation', 40, 10.0, [('jump', 0.0, 3.5)])])
    else:
        video_path, annotation_path = ucf_like(tmp_path, kinetics=dataset == 'kinetics')
    result = tmp_path / 'results'
    run_main(*data_flags(video_path, annotation_path, dataset), '--result_path', result,
             '--n_epochs', 2, '--checkpoint', 1, *TINY)
    assert read_log(result / 'train.log')[0] == ['epoch', 'loss', 'acc', 'lr']
    assert [row[0] for row in read_log(result / 'train.log')[1:]] == ['1', '2']
    assert read_log(result / 'val.log')[0] == ['epoch', 'loss', 'acc']
    batches = read_log(result / 'train_batch.log')
    assert batches[0] == ['epoch', 'batch', 'iter', 'loss', 'acc', 'lr']
    n_batches = max(int(r[1]) for r in batches[1:])
    assert [int(r[2]) for r in batches[1:]] == list(range(1, 2 * n_batches + 1))
    for epoch in (1, 2):
        checkpoint = load_checkpoint(str(result / f'save_{epoch}.pth'))
        assert checkpoint['epoch'] == epoch + 1 and checkpoint['arch'] == 'resnet-10'
        assert {'state_dict', 'optimizer', 'scheduler', 'rng'} <= set(checkpoint)
    options = json.loads((result / 'opts.json').read_text())
    assert options['arch'] == 'resnet-10' and len(options['scales']) == 5


def weights(path):
    return load_checkpoint(str(path))['state_dict']


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path):
    video_path, annotation_path = ucf_like(tmp_path)
    flags = [*data_flags(video_path, annotation_path, 'ucf101'), *TINY, '--checkpoint', 2,
             '--learning_rate', 0.01]
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    run_main(*flags, '--result_path', straight, '--n_epochs', 4)
    run_main(*flags, '--result_path', split, '--n_epochs', 2)
    run_main(*flags, '--result_path', split, '--n_epochs', 4, '--resume_path',
             split / 'save_2.pth')
    for log in ('train.log', 'train_batch.log', 'val.log'):
        a, b = read_log(straight / log), read_log(split / log)
        assert len(a) == len(b) and a[0] == b[0]
        for row_a, row_b in zip(a[1:], b[1:]):
            assert [float(x) for x in row_a] == pytest.approx([float(x) for x in row_b],
                                                             abs=1e-5)
    wa, wb = weights(straight / 'save_4.pth'), weights(split / 'save_4.pth')
    for key in wa:
        assert torch.allclose(wa[key].float(), wb[key].float(), atol=1e-5), key


@pytest.mark.slow
def test_two_straight_runs_give_identical_logs(tmp_path):
    video_path, annotation_path = ucf_like(tmp_path)
    flags = [*data_flags(video_path, annotation_path, 'ucf101'), *TINY, '--n_epochs', 2]
    run_main(*flags, '--result_path', tmp_path / 'one')
    run_main(*flags, '--result_path', tmp_path / 'two')
    for log in ('train.log', 'train_batch.log', 'val.log'):
        assert (tmp_path / 'one' / log).read_text() == (tmp_path / 'two' / log).read_text()


@pytest.mark.slow
def test_fine_tuning_freezes_all_but_layer4_and_fc(tmp_path):
    video_path, annotation_path = ucf_like(tmp_path, classes=('a', 'b', 'c', 'd', 'e'),
                                           train=1)
    pre = tmp_path / 'pre'
    run_main(*data_flags(video_path, annotation_path, 'ucf101', n_classes=5), *TINY,
             '--result_path', pre, '--n_epochs', 1)
    video_path2, annotation_path2 = ucf_like(tmp_path / 'second', classes=('x', 'y'))
    ft = tmp_path / 'ft'
    run_main(*data_flags(video_path2, annotation_path2, 'ucf101', n_classes=5), *TINY,
             '--result_path', ft, '--n_epochs', 2, '--pretrain_path', pre / 'save_1.pth',
             '--n_finetune_classes', 2, '--ft_begin_index', 4, '--learning_rate', 0.05)
    before, after = weights(pre / 'save_1.pth'), weights(ft / 'save_2.pth')
    assert after['fc.weight'].shape == (2, 512)
    for key, value in after.items():
        if key.startswith('fc.') or 'running' in key or 'num_batches' in key:
            continue
        if key.startswith('layer4.'):
            assert not torch.equal(value, before[key]), f'{key} did not train'
        else:
            assert torch.equal(value, before[key]), f'{key} moved'


@pytest.mark.slow
def test_test_only_from_checkpoint_writes_every_video(tmp_path):
    video_path, annotation_path = ucf_like(tmp_path, val=2)
    run_main(*data_flags(video_path, annotation_path, 'ucf101'), *TINY,
             '--result_path', tmp_path / 'r', '--n_epochs', 1)
    out = tmp_path / 'test_only'
    run_main(*data_flags(video_path, annotation_path, 'ucf101'), *TINY, '--result_path', out,
             '--no_train', '--no_val', '--test', '--resume_path', tmp_path / 'r' / 'save_1.pth',
             '--batch_size', 5)
    results = json.loads((out / 'val.json').read_text())['results']
    assert sorted(results) == [f'v{i:03d}' for i in range(9, 15)]  # the last one too
    for top in results.values():
        assert len(top) == 3  # min(10, classes)
        assert all(isinstance(t['score'], float) for t in top)
        assert [t['score'] for t in top] == sorted((t['score'] for t in top), reverse=True)
        assert sum(t['score'] for t in top) == pytest.approx(1, abs=1e-5)
    assert not (out / 'train.log').exists()


def published_resnet34(path):
    """A checkpoint shaped like the published resnet-34-kinetics.pth: DataParallel keys,
    no num_batches_tracked, legacy serialisation."""
    from opts import parse_opts
    from models.factory import build_model
    opt = parse_opts(['--model_depth', '34', '--resnet_shortcut', 'A', '--sample_size', '32',
                      '--sample_duration', '8'])
    state = {'module.' + k: v for k, v in build_model(ModelSpec.from_options(opt), 400).state_dict().items()
             if not k.endswith('num_batches_tracked')}
    torch.save({'epoch': 200, 'arch': 'resnet-34', 'state_dict': state, 'optimizer': {}}, path,
               _use_new_zipfile_serialization=False)


SEED_COMMANDS = [
    'python main.py --root_path ~/data --video_path kinetics_videos/jpg --annotation_path '
    'kinetics.json --result_path results --dataset kinetics --model resnet --model_depth 34 '
    '--n_classes 400 --batch_size 128 --n_threads 4 --checkpoint 5',
    'python main.py --root_path ~/data --video_path kinetics_videos/jpg --annotation_path '
    'kinetics.json --result_path results --dataset kinetics --resume_path results/save_100.pth '
    '--model_depth 34 --n_classes 400 --batch_size 128 --n_threads 4 --checkpoint 5',
    'python main.py --root_path ~/data --video_path ucf101_videos/jpg --annotation_path '
    'ucf101_01.json --result_path results --dataset ucf101 --n_classes 400 '
    '--n_finetune_classes 101 --pretrain_path models/resnet-34-kinetics.pth --ft_begin_index 4 '
    '--model resnet --model_depth 34 --resnet_shortcut A --batch_size 128 --n_threads 4 '
    '--checkpoint 5',
]
# 64 pixels, not 32: with layer4's maps at 1x1x1, two training clips leave batch-norm
# statistics whose validation outputs overflow, which a run refuses as a diverged model.
SMALL = ' --no_cuda --sample_size 64 --sample_duration 8 --batch_size 4 --n_threads 1'


@pytest.mark.slow
def test_original_readme_commands(tmp_path):
    home = tmp_path / 'home'
    data = home / 'data'
    os.makedirs(data / 'models')
    kinetics_classes = ['a', 'b'] + [f'k{i}' for i in range(398)]  # 400, two with videos
    labelled_layout(str(data / 'k'), kinetics_classes, [('a', 'training', 9),
                                                        ('b', 'training', 9),
                                                        ('a', 'validation', 12)], kinetics=True)
    os.rename(data / 'k' / 'jpg', data / 'kinetics_videos')
    os.makedirs(data / 'kinetics_videos' / 'jpg')
    for name in ('a', 'b'):
        os.rename(data / 'kinetics_videos' / name, data / 'kinetics_videos' / 'jpg' / name)
    os.rename(data / 'k' / 'annotation.json', data / 'kinetics.json')
    labelled_layout(str(data / 'u'), [f'c{i}' for i in range(101)],
                    [('c0', 'training', 9), ('c1', 'training', 9), ('c2', 'validation', 9)])
    os.makedirs(data / 'ucf101_videos')
    os.rename(data / 'u' / 'jpg', data / 'ucf101_videos' / 'jpg')
    os.rename(data / 'u' / 'annotation.json', data / 'ucf101_01.json')
    published_resnet34(data / 'models' / 'resnet-34-kinetics.pth')

    env = dict(os.environ, HOME=str(home))
    appended = [SMALL + ' --begin_epoch 100 --n_epochs 100', SMALL + ' --n_epochs 101',
                SMALL + ' --n_epochs 1']
    for command, extra in zip(SEED_COMMANDS, appended):
        command = command.replace('python ', f'{sys.executable} ', 1)
        done = subprocess.run(command + extra, shell=True, cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    results = data / 'results'
    assert load_checkpoint(str(results / 'save_1.pth'))['state_dict']['fc.weight'].shape == \
        (101, 512)
    archived = [p for p in os.listdir(results) if p.startswith('earlier_run_')]
    assert len(archived) == 1  # the Kinetics run, moved aside by the fine-tuning run
    assert {'save_100.pth', 'save_101.pth'} <= set(os.listdir(results / archived[0]))
    assert [r[0] for r in read_log(results / archived[0] / 'train.log')[1:]] == ['100', '101']
