"""Model zoo: published parameter names and shapes, forward semantics, gradients."""
import math
import os
import re

import pytest
import torch
import torch.nn.functional as F

from models import generate_model
from models.factory import build_model, fine_tuning_parameters
from models.pre_act_resnet import PreActivationBasicBlock
from models.resnet import BasicBlock, shortcut_a
from models.registry import ModelSpec

# model, depth, parameter count. The published parameter names and shapes of each are in
# tests/published/<model>-<depth>.txt, a "name shape" line each (dense layers as `norm.1`).
PUBLISHED = [
    ('resnet', 10, 14430800), ('resnet', 18, 33235280), ('resnet', 34, 63544912),
    ('resnet', 50, 47018576), ('resnet', 101, 86064720), ('resnet', 152, 118223440),
    ('resnet', 200, 127423056),
    ('preresnet', 18, 33408208), ('preresnet', 34, 63717840), ('preresnet', 50, 47014608),
    ('preresnet', 101, 86060752), ('preresnet', 152, 118219472),
    ('preresnet', 200, 127419088),
    ('wideresnet', 50, 158248272),
    ('resnext', 50, 26685264), ('resnext', 101, 48340816), ('resnext', 152, 66178896),
    ('densenet', 121, 11696528), ('densenet', 169, 19252624), ('densenet', 201, 26143120),
    ('densenet', 264, 41365392),
]
PUBLISHED_NAMES = os.path.join(os.path.dirname(__file__), 'published')
DENSE_PUBLISHED = re.compile(r'(denselayer\d+)\.(norm|conv)(\d)\.')


def published_shapes(model, depth):
    """{parameter or buffer name: shape} of the published checkpoint."""
    with open(os.path.join(PUBLISHED_NAMES, f'{model}-{depth}.txt')) as f:
        return dict(line.split() for line in f if line.strip())


def published_flags(model, depth):
    shortcut = 'A' if model == 'resnet' and depth < 50 else 'B'
    return ['--model', model, '--model_depth', depth, '--resnet_shortcut', shortcut]


@pytest.mark.parametrize('model,depth,n_params', PUBLISHED)
def test_published_names_and_shapes(make_opt, model, depth, n_params):
    opt = make_opt(*published_flags(model, depth))
    with torch.device('meta'):  # shapes only: no memory, no initialisation cost
        net = build_model(ModelSpec.from_options(opt), 400)
    built = {DENSE_PUBLISHED.sub(r'\1.\2.\3.', k): 'x'.join(map(str, v.shape))
             for k, v in net.state_dict().items() if not k.endswith('num_batches_tracked')}
    published = published_shapes(model, depth)
    assert not sorted(set(published) - set(built)), 'published names the model lacks'
    assert not sorted(set(built) - set(published)), 'names the published files lack'
    assert not {k: (built[k], published[k]) for k in built if built[k] != published[k]}, \
        'shapes (built, published) that differ'
    assert sum(p.numel() for p in net.parameters()) == n_params


@pytest.mark.slow
@pytest.mark.parametrize('model,depth', [(m, d) for m, d, _ in PUBLISHED])
def test_forward_backward_tiny_clip(make_opt, model, depth):
    frames = 16 if model == 'densenet' else 8  # DenseNet's transitions need 16 frames
    opt = make_opt(*published_flags(model, depth), '--n_classes', 5, '--sample_size', 32,
                   '--sample_duration', frames)
    net, _ = generate_model(opt)
    x = torch.randn(2, 3, frames, 32, 32)
    out = net(x)
    assert out.shape == (2, 5)
    out.sum().backward()
    assert net.conv1.weight.grad.abs().sum() > 0 if model != 'densenet' else \
        net.features.conv0.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('model,depth,size,duration', [
    ('resnet', 18, 48, 16), ('resnet', 34, 64, 32), ('densenet', 121, 48, 16),
    ('densenet', 121, 64, 16)])
def test_final_pooling_fits_the_feature_map(make_opt, model, depth, size, duration):
    """ResNets pool with ceil(size/32), DenseNet with floor(size/32) (as the reference)."""
    opt = make_opt('--model', model, '--model_depth', depth, '--n_classes', 3,
                   '--sample_size', size, '--sample_duration', duration)
    net, _ = generate_model(opt)
    if model == 'densenet':
        assert net.pool_size == (math.ceil(duration / 16), size // 32, size // 32)
    else:
        k = math.ceil(size / 32)
        assert net.avgpool.kernel_size == (math.ceil(duration / 16), k, k)
    assert net(torch.randn(2, 3, duration, size, size)).shape == (2, 3)


def test_densenet_too_short_clip_is_a_clear_error(make_opt):
    from utils import UserError
    with pytest.raises(UserError, match='--sample_duration >= 16'):
        generate_model(make_opt('--model', 'densenet', '--model_depth', 121,
                                '--sample_duration', 8))


def test_shortcut_a_values_match_reference_formulation():
    x = torch.randn(2, 4, 5, 7, 6)
    reference = F.avg_pool3d(x, kernel_size=1, stride=2)
    reference = torch.cat([reference, torch.zeros(2, 4, *reference.shape[2:])], 1)
    assert torch.equal(shortcut_a(x, planes=8, stride=2), reference)


def test_shortcut_a_passes_gradients():
    torch.manual_seed(0)
    from functools import partial
    block = BasicBlock(3, 6, stride=2, downsample=partial(shortcut_a, planes=6, stride=2))
    block = block.double().eval()
    x = torch.randn(1, 3, 4, 6, 6, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,))
    # The shortcut alone carries gradient to every subsampled input element.
    y = shortcut_a(x, planes=6, stride=2)
    y.sum().backward()
    assert x.grad[:, :, ::2, ::2, ::2].eq(1).all()


def test_basic_block_order():
    torch.manual_seed(0)
    block = BasicBlock(4, 4).eval()
    for bn in (block.bn1, block.bn2):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    x = torch.randn(1, 4, 3, 5, 5)
    out = F.relu(block.bn1(block.conv1(x)))
    expected = F.relu(block.bn2(block.conv2(out)) + x)
    assert torch.allclose(block(x), expected)


def test_pre_activation_block_order():
    torch.manual_seed(0)
    block = PreActivationBasicBlock(4, 4).eval()
    for bn in (block.bn1, block.bn2):
        bn.running_mean.uniform_(-1, 1)
    x = torch.randn(1, 4, 3, 5, 5)
    expected = block.conv2(F.relu(block.bn2(block.conv1(F.relu(block.bn1(x)))))) + x
    out = block(x)
    assert torch.allclose(out, expected)
    assert (out < 0).any()  # no ReLU after the sum


def test_initialisation_is_kaiming_normal_fan_out(make_opt):
    """The reference's init: convolutions Kaiming normal over fan_out (std sqrt(2/fan_out)),
    batch norm weight 1 and bias 0. PyTorch's default (uniform over fan_in, std
    1/sqrt(3 fan_in)) or a fan_in variant would be off by a factor of 1.5 to 3 here."""
    torch.manual_seed(0)
    net, _ = generate_model(make_opt('--n_classes', 3, '--sample_size', 32))
    for name in ('conv1', 'layer1.0.conv1', 'layer3.1.conv2', 'layer4.0.downsample.0'):
        weight = net.get_submodule(name).weight.detach()
        fan_out = weight.shape[0] * weight[0, 0].numel()
        expected = math.sqrt(2 / fan_out)
        assert weight.std().item() == pytest.approx(expected, rel=0.05), name
        # normal, not uniform: about 4.6 % of the values lie beyond two standard deviations
        beyond = (weight.abs() > 2 * expected).float().mean().item()
        assert 0.035 < beyond < 0.06, name
    for name in ('bn1', 'layer2.1.bn2'):
        bn = net.get_submodule(name)
        assert torch.equal(bn.weight, torch.ones_like(bn.weight))
        assert torch.equal(bn.bias, torch.zeros_like(bn.bias))


def test_fine_tuning_groups(make_opt):
    opt = make_opt('--n_classes', 3, '--sample_size', 32)
    net, _ = generate_model(opt)
    groups = fine_tuning_parameters(net, 'resnet', 4)
    trained = {id(p) for p in groups[0]['params']}
    names = {n for n, p in net.named_parameters() if id(p) in trained}
    assert names and all(n.startswith(('layer4', 'fc')) for n in names)
    assert groups[1]['lr'] == 0.0 and all(not p.requires_grad for p in groups[1]['params'])
    assert len(trained) + len(groups[1]['params']) == len(list(net.parameters()))
