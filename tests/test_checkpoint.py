"""Checkpoint loading: every accepted form gives the same model; bad files are refused."""
import os
import random
import re

import pytest
import torch

from models import generate_model
from models.checkpoint import load_checkpoint, load_weights, save_checkpoint
from utils import UserError

SMALL = ['--n_classes', 4, '--sample_size', 32, '--sample_duration', 16]


def trained_looking(model):
    """Give batch-norm statistics non-default values so that a lost buffer shows."""
    torch.manual_seed(0)
    for name, buf in model.named_buffers():
        if name.endswith('running_mean'):
            buf.uniform_(-0.5, 0.5)
        elif name.endswith('running_var'):
            buf.uniform_(0.5, 1.5)
    return model.eval()


def published_dense_names(state_dict):
    return {re.sub(r'(denselayer\d+)\.(norm|conv)(\d)\.', r'\1.\2.\3.', k): v
            for k, v in state_dict.items()}


FORMS = {
    'zip': lambda sd: (sd, {}),
    'legacy': lambda sd: (sd, {'_use_new_zipfile_serialization': False}),
    'module_prefix': lambda sd: ({'module.' + k: v for k, v in sd.items()}, {}),
    'no_num_batches_tracked': lambda sd: (
        {k: v for k, v in sd.items() if not k.endswith('num_batches_tracked')}, {}),
    'published_densenet': lambda sd: (
        {'module.' + k: v for k, v in published_dense_names(sd).items()
         if not k.endswith('num_batches_tracked')},
        {'_use_new_zipfile_serialization': False}),
}


@pytest.mark.slow
@pytest.mark.parametrize('model,depth,form', [
    ('resnet', 18, 'zip'), ('resnet', 18, 'legacy'), ('resnet', 18, 'module_prefix'),
    ('resnet', 18, 'no_num_batches_tracked'), ('preresnet', 18, 'legacy'),
    ('resnext', 50, 'module_prefix'), ('densenet', 121, 'published_densenet'),
    ('densenet', 121, 'zip')])
def test_accepted_forms_give_identical_outputs(tmp_path, make_opt, model, depth, form):
    opt = make_opt('--model', model, '--model_depth', depth, *SMALL)
    source = trained_looking(generate_model(opt)[0])
    state_dict, save_kwargs = FORMS[form](source.state_dict())
    path = str(tmp_path / 'save_3.pth')
    torch.save({'epoch': 3, 'arch': opt.arch, 'state_dict': state_dict, 'optimizer': {}}, path,
               **save_kwargs)
    target = generate_model(opt)[0].eval()
    load_weights(target, load_checkpoint(path)['state_dict'], path,
                 'classifier' if model == 'densenet' else 'fc')
    x = torch.randn(2, 3, 16, 32, 32)
    with torch.no_grad():
        assert torch.equal(target(x), source(x))


def test_pretrain_replaces_classifier_and_keeps_body(tmp_path, make_opt):
    opt = make_opt(*SMALL)
    source = trained_looking(generate_model(opt)[0])
    path = str(tmp_path / 'pretrained.pth')
    torch.save({'arch': 'resnet-18', 'state_dict': source.state_dict()}, path)
    model, groups = generate_model(make_opt(*SMALL, '--pretrain_path', path,
                                            '--n_finetune_classes', 7, '--ft_begin_index', 4))
    assert model.fc.out_features == 7
    assert torch.equal(model.layer1[0].conv1.weight, source.layer1[0].conv1.weight)
    assert torch.equal(model.bn1.running_mean, source.bn1.running_mean)
    assert len(groups) == 2 and groups[1]['lr'] == 0


def test_missing_file(make_opt, tmp_path):
    with pytest.raises(UserError, match='checkpoint not found: .*nothing.pth'):
        generate_model(make_opt(*SMALL, '--pretrain_path', tmp_path / 'nothing.pth'))


@pytest.mark.parametrize('content', [b'', b'hello, not a checkpoint\n'] + [
    random.Random(seed).randbytes(4096) for seed in range(8)])
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / 'bad.pth'
    path.write_bytes(content)
    with pytest.raises(UserError, match='bad.pth'):
        load_checkpoint(str(path))


def test_truncated_checkpoint(tmp_path, make_opt):
    path = tmp_path / 'cut.pth'
    torch.save({'arch': 'resnet-18', 'state_dict': generate_model(make_opt(*SMALL))[0]
                .state_dict()}, path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(UserError, match='cut.pth'):
        load_checkpoint(str(path))


@pytest.mark.slow
def test_other_architecture_names_both(tmp_path, make_opt):
    path = tmp_path / 'r34.pth'
    net = generate_model(make_opt(*SMALL, '--model_depth', 34))[0]
    torch.save({'arch': 'resnet-34', 'state_dict': net.state_dict()}, path)
    with pytest.raises(UserError, match='resnet-34 .* builds resnet-18'):
        generate_model(make_opt(*SMALL, '--pretrain_path', path))


def test_other_class_count_points_at_flags(tmp_path, make_opt):
    path = tmp_path / 'k400.pth'
    net = generate_model(make_opt('--n_classes', 9, '--sample_size', 32))[0]
    torch.save({'arch': 'resnet-18', 'state_dict': net.state_dict()}, path)
    with pytest.raises(UserError, match='9 classes .* built with 4.*--n_classes 9'):
        generate_model(make_opt(*SMALL, '--pretrain_path', path))


def test_unsafe_pickle_is_refused_not_executed(tmp_path):
    marker = tmp_path / 'executed'

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), 'w'))

    path = tmp_path / 'evil.pth'
    torch.save({'arch': 'resnet-18', 'state_dict': {}, 'extra': Payload()}, path)
    with pytest.raises(UserError, match='refused .* trust'):
        load_checkpoint(str(path))
    assert not marker.exists()


def test_save_checkpoint_is_atomic_and_leaves_no_temporary(tmp_path, monkeypatch):
    """Until the new checkpoint is whole on disk the path holds the old one; the new one
    appears in one rename, and nothing else is left in the folder."""
    from models import checkpoint as checkpoint_module
    path = tmp_path / 'save_1.pth'
    save_checkpoint({'epoch': 2, 'state_dict': {'w': torch.ones(3)}}, str(path))
    renames = []
    real_replace = checkpoint_module.os.replace

    def replace(src, dst):
        assert load_checkpoint(str(dst))['epoch'] == 2  # readers still see the old file
        assert load_checkpoint(src)['epoch'] == 3  # the new one is already whole
        renames.append((os.path.dirname(src), dst))
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint_module.os, 'replace', replace)
    save_checkpoint({'epoch': 3, 'state_dict': {'w': torch.zeros(3)}}, str(path))
    assert renames == [(str(tmp_path), str(path))]  # same folder: an atomic rename
    assert load_checkpoint(str(path))['epoch'] == 3
    assert os.listdir(tmp_path) == ['save_1.pth']
