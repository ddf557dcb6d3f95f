"""export.py: a trained model as an ONNX file (or a torch.export program) that carries what
applying it needs, checked against the PyTorch model before it is kept; inference.py applies
such a file as it applies the checkpoint."""
import json
import os
import shutil

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from models import exported, resnet
from models.factory import build_model
from models.registry import ModelSpec
from tests.conftest import ROOT, assert_one_line_error, data_flags, run_main, ucf_like
from tests.datagen import write_footage_frames

TINY_CLIPS = ['--sample_size', 32, '--sample_duration', 16, '--no_cuda', '--n_threads', 0,
              '--batch_size', 4]
FAMILIES = {
    'resnet shortcut A': ['--model', 'resnet', '--model_depth', 10, '--resnet_shortcut', 'A'],
    'resnet shortcut B': ['--model', 'resnet', '--model_depth', 10, '--resnet_shortcut', 'B'],
    'preresnet': ['--model', 'preresnet', '--model_depth', 18],
    'wideresnet': ['--model', 'wideresnet', '--model_depth', 50, '--wide_resnet_k', 1],
    'resnext': ['--model', 'resnext', '--model_depth', 50, '--resnext_cardinality', 8],
    'densenet': ['--model', 'densenet', '--model_depth', 121],
}


def run(module_main, *flags):
    """A command's main in this process: its exit code (0 when it returns)."""
    try:
        module_main([str(f) for f in flags])
    except SystemExit as e:
        return e.code
    return 0


def export(*flags):
    import export as command
    return run(command.main, *flags)


def inference(*flags):
    import inference as command
    return run(command.main, *flags)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A ResNet-10 trained here for an epoch (its checkpoint records its settings and the
    class names), and frames of real-looking footage to apply it to."""
    root = tmp_path_factory.mktemp('trained')
    video_path, annotation_path = ucf_like(root)
    run_main(*data_flags(video_path, annotation_path, 'ucf101'), *FAMILIES['resnet shortcut A'],
             *TINY_CLIPS, '--n_epochs', 1, '--learning_rate', 0.001, '--result_path',
             root / 'r')
    footage = root / 'footage' / 'walk'
    write_footage_frames(str(footage), 40, height=48)
    return root / 'r' / 'save_1.pth', root / 'footage'


def scores(output):
    return json.loads((output / 'results.json').read_text())


def assert_same_scores(a, b, tolerance=1e-4):
    assert list(a['results']) == list(b['results']) and a['results']
    for video in a['results']:
        for key in ('results', 'clips'):
            rows_a, rows_b = a[key][video], b[key][video]
            assert [r['label'] for r in rows_a] == [r['label'] for r in rows_b]
            assert np.allclose([r['score'] for r in rows_a], [r['score'] for r in rows_b],
                               atol=tolerance, rtol=0)


def test_an_onnx_file_carries_what_applying_it_needs(trained, tmp_path, capsys):
    checkpoint, _ = trained
    path = tmp_path / 'model.onnx'
    assert export(checkpoint, path) == 0, capsys.readouterr().err
    model = onnx.load(str(path))
    metadata = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert metadata['class_names'] == ['a', 'b', 'c'] and metadata['recipe'] == 'cvpr2018'
    assert metadata['settings']['model'] == 'resnet' and metadata['settings']['n_classes'] == 3
    pre = metadata['preprocessing']
    assert pre['frames'] == 16 and pre['size'] == 32 and pre['crop_position'] == 'c'
    assert pre['divide_by'] == 1 and pre['mean'] == pytest.approx([114.7748, 107.7354, 99.475])
    assert pre['std'] == [1.0, 1.0, 1.0] and metadata['exported_by'].startswith('3D ResNets')
    # The batch size is free: the file runs at 1 and at 5 clips, scores before softmax.
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    assert [i.name for i in session.get_inputs()] == ['clips']
    net = build_model(ModelSpec(depth=10, n_classes=3, sample_size=32, sample_duration=16,
                                shortcut='A'))
    net.load_state_dict({k.removeprefix('module.'): v for k, v in
                         torch.load(checkpoint, weights_only=True)['state_dict'].items()})
    for batch in (1, 5):
        clips = torch.randn(batch, 3, 16, 32, 32)
        got = session.run(None, {'clips': clips.numpy()})[0]
        with torch.no_grad():
            expected = net.eval()(clips).numpy()
        assert got.shape == (batch, 3)
        assert np.abs(got - expected).max() <= 1e-4 * max(1, np.abs(expected).max())


@pytest.mark.slow
def test_inference_applies_the_exported_file_as_the_checkpoint(trained, tmp_path, capsys):
    """The per-video and per-clip scores of real footage through onnxruntime are the
    checkpoint's (the checkpoint moved away first); features too, from a .pt2 as well."""
    checkpoint, footage = trained
    moved = tmp_path / 'model.pth'
    shutil.copy(checkpoint, moved)
    for name, mode in (('model.onnx', 'score'), ('features.onnx', 'feature'),
                       ('model.pt2', 'score')):
        assert export(moved, tmp_path / name, '--mode', mode) == 0, capsys.readouterr().err
    outputs = {}
    for name, mode in (('model.pth', 'score'), ('model.pth', 'feature')):
        outputs[name, mode] = tmp_path / f'out_{name}_{mode}'
        assert inference(footage, '--output', outputs[name, mode], '--resume_path',
                         tmp_path / name, '--mode', mode, '--no_cuda', '--n_threads', 0) == 0
    os.remove(moved)
    for name, mode in (('model.onnx', 'score'), ('features.onnx', 'feature'),
                       ('model.pt2', 'score')):
        outputs[name, mode] = tmp_path / f'out_{name}_{mode}'
        code = inference(footage, '--output', outputs[name, mode], '--resume_path',
                         tmp_path / name, '--mode', mode, '--no_cuda', '--n_threads', 0)
        assert code == 0, capsys.readouterr().err
    reference = scores(outputs['model.pth', 'score'])
    assert_same_scores(reference, scores(outputs['model.onnx', 'score']))
    assert_same_scores(reference, scores(outputs['model.pt2', 'score']))
    expected = np.load(outputs['model.pth', 'feature'] / 'walk.npy')
    got = np.load(outputs['features.onnx', 'feature'] / 'walk.npy')
    assert got.shape == expected.shape == (3, 512)  # 40 frames: windows at 1, 17, 33
    assert np.abs(got - expected).max() <= 1e-4 * max(1, np.abs(expected).max())


@pytest.mark.slow
def test_an_exported_file_fixes_its_mode_network_and_clip_size(trained, tmp_path, capsys):
    checkpoint, footage = trained
    path = tmp_path / 'model.onnx'
    assert export(checkpoint, path) == 0
    capsys.readouterr()
    for flags, fragments in ((['--mode', 'feature'], ['--mode score']),
                             (['--sample_size', 64], ['--sample_size 32', 'leave']),
                             (['--model_depth', 18], ['--model_depth 10', 'leave'])):
        code = inference(footage, '--output', tmp_path / 'out', '--resume_path', path,
                         '--no_cuda', *flags)
        assert_one_line_error(code, capsys.readouterr().err, *fragments)
    assert not (tmp_path / 'out').exists()
    # The preprocessing is not fixed: a flag changes it, said as for a checkpoint.
    code = inference(footage, '--output', tmp_path / 'out', '--resume_path', path, '--no_cuda',
                     '--n_threads', 0, '--no_mean_norm')
    assert code == 0 and 'was trained with no --no_mean_norm' in capsys.readouterr().err


def test_an_existing_output_is_kept_without_overwrite(trained, tmp_path, capsys):
    checkpoint, _ = trained
    path = tmp_path / 'model.onnx'
    path.write_text('mine')
    assert_one_line_error(export(checkpoint, path), capsys.readouterr().err, '--overwrite')
    assert path.read_text() == 'mine'
    assert_one_line_error(export(checkpoint, tmp_path / 'model.txt'), capsys.readouterr().err,
                          '.onnx or .pt2')
    assert_one_line_error(export(checkpoint, tmp_path / 'missing' / 'model.onnx'),
                          capsys.readouterr().err, 'does not exist')


def test_a_bad_checkpoint_is_one_line_and_writes_nothing(tmp_path, capsys):
    (tmp_path / 'notes.pth').write_text('{"not": "a checkpoint"}')
    code = export(tmp_path / 'notes.pth', tmp_path / 'model.onnx')
    assert_one_line_error(code, capsys.readouterr().err, 'notes.pth', 'not a PyTorch checkpoint')
    code = export(tmp_path / 'missing.pth', tmp_path / 'model.onnx')
    assert_one_line_error(code, capsys.readouterr().err, 'not found')
    assert os.listdir(tmp_path) == ['notes.pth']


@pytest.mark.slow
def test_a_published_checkpoint_is_taken_as_it_tells(tmp_path, capsys):
    """The CVPR 2018 checkpoints record nothing: their arch and weights tell the network
    and classes; flags say what they cannot (the clip size); a wrong flag is one line."""
    torch.manual_seed(0)
    net = resnet.build(10, shortcut_type='A', sample_size=32, sample_duration=16,
                       num_classes=5)
    torch.save({'epoch': 3, 'arch': 'resnet-10', 'state_dict':
                {f'module.{k}': v for k, v in net.state_dict().items()}},
               tmp_path / 'published.pth')
    clip_flags = ['--sample_size', 32, '--sample_duration', 16]
    code = export(tmp_path / 'published.pth', tmp_path / 'a.onnx', *clip_flags, '--n_classes', 4)
    assert_one_line_error(code, capsys.readouterr().err, '5 classes', '--n_classes 5')
    code = export(tmp_path / 'published.pth', tmp_path / 'a.onnx', *clip_flags,
                  '--model_depth', 18)
    assert_one_line_error(code, capsys.readouterr().err, 'resnet-10', '--model_depth')
    assert export(tmp_path / 'published.pth', tmp_path / 'a.onnx', *clip_flags) == 0
    err = capsys.readouterr().err
    assert 'took --model_depth 10 --n_classes 5 --resnet_shortcut A from' in err, err
    loaded = exported.load(str(tmp_path / 'a.onnx'))
    assert loaded.metadata['class_names'] == ['0', '1', '2', '3', '4']
    clips = torch.randn(2, 3, 16, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(clips), net.eval()(clips), atol=1e-4)


def test_a_file_that_is_no_export_is_named(tmp_path, trained, capsys):
    _, footage = trained
    (tmp_path / 'damaged.onnx').write_bytes(b'\x08\x07garbage')
    net = build_model(ModelSpec(depth=10, n_classes=3, sample_size=32, sample_duration=16))
    torch.onnx.export(net.eval(), (torch.randn(1, 3, 16, 32, 32),), str(tmp_path / 'plain.onnx'),
                      dynamo=True, verbose=False)
    for name, fragment in (('damaged.onnx', 'not a readable ONNX model'),
                           ('plain.onnx', 'not written by export.py')):
        code = inference(footage, '--output', tmp_path / 'out', '--resume_path',
                         tmp_path / name, '--no_cuda')
        assert_one_line_error(code, capsys.readouterr().err, name, fragment)


@pytest.mark.slow
def test_an_export_that_does_not_match_its_model_is_not_kept(trained, tmp_path, monkeypatch,
                                                             capsys):
    checkpoint, _ = trained
    load = exported.load

    def perturbed(*args, **kwargs):
        model = load(*args, **kwargs)
        run = model.run
        model.run = lambda clips: run(clips) + 0.01
        return model
    monkeypatch.setattr(exported, 'load', perturbed)
    code = export(checkpoint, tmp_path / 'model.onnx')
    assert_one_line_error(code, capsys.readouterr().err, 'differ by', 'nothing was written')
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize('family', list(FAMILIES)[1:])  # the first: the `trained` fixture's
def test_every_family_trained_here_infers_the_same_from_its_onnx_file(tmp_path, family,
                                                                      capsys):
    """Trained for an epoch, exported; inference.py on real footage from the .onnx alone
    gives the checkpoint's per-video and per-clip scores (1e-4)."""
    video_path, annotation_path = ucf_like(tmp_path, train=1)  # moved off its initial weights
    run_main(*data_flags(video_path, annotation_path, 'ucf101'), *FAMILIES[family],
             *TINY_CLIPS, '--n_epochs', 1, '--learning_rate', 0.001, '--no_val',
             '--result_path', tmp_path / 'r')
    footage = tmp_path / 'footage'
    write_footage_frames(str(footage / 'walk'), 40, height=48)
    checkpoint = tmp_path / 'r' / 'save_1.pth'
    assert export(checkpoint, tmp_path / 'model.onnx') == 0, capsys.readouterr().err
    flags = ['--no_cuda', '--n_threads', 0]
    assert inference(footage, '--output', tmp_path / 'pth', '--resume_path', checkpoint,
                     *flags) == 0
    os.rename(checkpoint, tmp_path / 'away.pth')
    assert inference(footage, '--output', tmp_path / 'onnx', '--resume_path',
                     tmp_path / 'model.onnx', *flags) == 0, capsys.readouterr().err
    assert_same_scores(scores(tmp_path / 'pth'), scores(tmp_path / 'onnx'))


@pytest.mark.slow
@pytest.mark.parametrize('model_flags', [
    ['--model', 'resnet', '--model_depth', 10],
    ['--model', 'resnet2p1d', '--model_depth', 10],
    ['--model', 'resnet', '--model_depth', 10, '--conv1_t_stride', 2, '--no_max_pool',
     '--resnet_widen_factor', 0.5],
    ['--model', 'wideresnet', '--model_depth', 50, '--wide_resnet_k', 1],
])
def test_a_release_checkpoint_exports_under_its_recipe(tmp_path, model_flags, capsys):
    """A checkpoint in the 2020 release's layout: its recipe and network taken from it
    (the stem options it cannot show given); its pipeline is in the metadata and the file
    gives the model's scores."""
    spec = {'resnet': 'resnet', 'resnet2p1d': 'resnet2p1d', 'wideresnet': 'wideresnet'}
    import opts
    from recipes import RECIPES
    opt = opts.parse_opts(['--recipe', '2020', '--no_cuda', *map(str, model_flags),
                           '--n_classes', '7', '--sample_size', '32', '--sample_duration', '8'])
    torch.manual_seed(0)
    net = build_model(RECIPES['2020'].model_spec(opt))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [50])
    torch.save({'epoch': 200, 'arch': f'{spec[opt.model]}-{opt.model_depth}',
                'state_dict': net.state_dict(), 'optimizer': optimizer.state_dict(),
                'scheduler': scheduler.state_dict()}, tmp_path / 'release.pth')
    flags = [*model_flags, '--n_classes', 7, '--sample_size', 32, '--sample_duration', 8]
    if '--no_max_pool' not in model_flags:  # (stem options need --recipe 2020 to be given)
        # Its layout tells the release, its arch and weights the network: no flags for them.
        assert export(tmp_path / 'release.pth', tmp_path / 'told.onnx', '--sample_size', 32,
                      '--sample_duration', 8) == 0
        assert 'took --recipe 2020' in capsys.readouterr().err
        told = exported.load(str(tmp_path / 'told.onnx'))
        assert told.metadata['settings']['model'] == opt.model
    assert export(tmp_path / 'release.pth', tmp_path / 'r.onnx', '--recipe', '2020',
                  *flags) == 0, capsys.readouterr().err
    loaded = exported.load(str(tmp_path / 'r.onnx'))
    pre = loaded.metadata['preprocessing']
    assert loaded.metadata['recipe'] == '2020' and pre['divide_by'] == 255
    assert pre['mean'] == pytest.approx([0.4345, 0.4051, 0.3775])
    clips = torch.randn(3, 3, 8, 32, 32)
    with torch.no_grad():
        expected = net.eval()(clips)
    assert (loaded(clips) - expected).abs().max() <= 1e-4 * max(1, expected.abs().max())
    # inference.py takes the file's recipe from it: no --recipe needed, the release's scores.
    footage = tmp_path / 'footage'
    write_footage_frames(str(footage / 'walk'), 20, height=48)
    assert inference(footage, '--output', tmp_path / 'pth', '--resume_path',
                     tmp_path / 'release.pth', '--recipe', '2020', *flags, '--no_cuda',
                     '--n_threads', 0) == 0
    assert inference(footage, '--output', tmp_path / 'onnx', '--resume_path',
                     tmp_path / 'r.onnx', '--no_cuda', '--n_threads', 0) == 0
    assert_same_scores(scores(tmp_path / 'pth'), scores(tmp_path / 'onnx'))


@pytest.mark.slow
@pytest.mark.slow
def test_a_checkpoint_trained_under_the_2020_recipe_exports_as_it_records(tmp_path, capsys):
    """No flags: the model, clips and recipe are the checkpoint's."""
    video_path, annotation_path = ucf_like(tmp_path)
    run_main(*data_flags(video_path, annotation_path, 'ucf101'), '--recipe', '2020',
             '--model', 'resnet2p1d', '--model_depth', 10, '--conv1_t_stride', 2,
             *TINY_CLIPS, '--n_epochs', 1, '--no_val', '--result_path', tmp_path / 'r')
    assert export(tmp_path / 'r' / 'save_1.pth', tmp_path / 'model.onnx') == 0, \
        capsys.readouterr().err
    metadata = exported.load(str(tmp_path / 'model.onnx')).metadata
    assert metadata['recipe'] == '2020' and metadata['preprocessing']['divide_by'] == 255
    assert metadata['settings']['model'] == 'resnet2p1d'
    assert metadata['settings']['conv1_t_stride'] == 2


@pytest.mark.slow
def test_the_readme_example_classifies_a_clip_without_this_project(trained, tmp_path):
    """README's "Deploying a trained model": its onnxruntime example, run in a clean
    process with no path to this project, prints a class of the file's."""
    import re
    import subprocess
    import sys
    checkpoint, footage = trained
    assert export(checkpoint, tmp_path / 'model.onnx') == 0
    readme = open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read()
    example = re.search(r'```python\n(# classify\.py.*?)```', readme, re.S).group(1)
    (tmp_path / 'classify.py').write_text(example)
    frames = sorted((footage / 'walk').glob('image_*.jpg'))
    result = subprocess.run([sys.executable, str(tmp_path / 'classify.py'),
                             str(tmp_path / 'model.onnx'), *map(str, frames[:16])],
                            capture_output=True, text=True, cwd=tmp_path,
                            env={'PATH': os.environ['PATH']}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] in ('a', 'b', 'c'), result.stdout
