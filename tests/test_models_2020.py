"""The networks of the reference's 2020 release (ResNet with its stem options and adaptive
pooling, R(2+1)D), and how a checkpoint of that release is received today."""
import collections

import pytest
import torch

from models import resnet, resnet2p1d, wide_resnet
from models.checkpoint import load_checkpoint

# (family, depth) -> parameters at 700 classes (Kinetics-700), as the release's models have.
PARAMETER_COUNTS = {(resnet, 18): 33_563_004, (resnet, 50): 47_633_276,
                    (resnet2p1d, 18): 33_575_064, (resnet2p1d, 50): 47_650_082}


@pytest.mark.parametrize('family, depth', list(PARAMETER_COUNTS))
def test_parameter_counts_at_700_classes(family, depth):
    net = family.build(depth, num_classes=700, adaptive_pool=True)
    assert sum(p.numel() for p in net.parameters()) == PARAMETER_COUNTS[family, depth]


def test_r2p1d18_middle_widths():
    """Each factorised convolution keeps the 3x3x3 one's parameters: stem 110, layer1 144,
    layer2 230 and 288, layer3 460 and 576, layer4 921 and 1152."""
    net = resnet2p1d.build(18, num_classes=700, adaptive_pool=True)
    widths = [net.conv1_s.out_channels] + [
        w for layer in (net.layer1, net.layer2, net.layer3, net.layer4)
        for w in (layer[0].conv1_s.out_channels, layer[0].conv2_s.out_channels)]
    assert widths == [110, 144, 144, 230, 288, 460, 576, 921, 1152]


def test_r2p1d_names_and_kernels():
    net = resnet2p1d.build(50, num_classes=10, adaptive_pool=True)
    names = set(dict(net.named_parameters()))
    assert {'conv1_s.weight', 'bn1_s.weight', 'conv1_t.weight', 'bn1_t.weight'} <= names
    assert {'layer1.0.conv1.weight', 'layer1.0.conv2_s.weight', 'layer1.0.conv2_t.weight',
            'layer1.0.conv3.weight', 'layer1.0.downsample.0.weight', 'fc.weight'} <= names
    assert net.layer2[0].conv2_s.kernel_size == (1, 3, 3)
    assert net.layer2[0].conv2_s.stride == (1, 2, 2)
    assert net.layer2[0].conv2_t.kernel_size == (3, 1, 1)
    assert net.layer2[0].conv2_t.stride == (2, 1, 1)
    basic = resnet2p1d.build(18, num_classes=10, adaptive_pool=True)
    assert {'layer1.0.conv1_s.weight', 'layer1.0.conv1_t.weight', 'layer1.0.conv2_s.weight',
            'layer1.0.conv2_t.weight', 'layer1.0.bn2_t.weight'} <= set(
                dict(basic.named_parameters()))
    assert basic.conv1_t.kernel_size == (7, 1, 1) and basic.conv1_s.kernel_size == (1, 7, 7)


@pytest.mark.parametrize('family', [resnet, resnet2p1d])
def test_adaptive_pooling_takes_any_clip_size(family):
    """--inference_crop nocrop hands whole frames (here 128 x 171) to the network."""
    net = family.build(10, num_classes=5, adaptive_pool=True).eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 16, 128, 171)).shape == (1, 5)
        assert net(torch.zeros(1, 3, 8, 112, 112)).shape == (1, 5)


def test_stem_options():
    net = resnet.build(18, num_classes=5, adaptive_pool=True, conv1_t_size=3,
                       conv1_t_stride=2, max_pool=False, widen_factor=1.5)
    assert net.conv1.out_channels == 96 and net.conv1.kernel_size == (3, 7, 7)
    assert net.conv1.stride == (2, 2, 2) and net.maxpool is None
    assert net.fc.in_features == 768  # int(512 * 1.5)
    grey = resnet.build(10, num_classes=5, adaptive_pool=True, n_input_channels=1)
    assert grey.conv1.in_channels == 1
    with torch.no_grad():
        assert net.eval()(torch.zeros(1, 3, 16, 64, 64)).shape == (1, 5)


@pytest.mark.slow
def test_wideresnet_101_has_the_release_s_parameter_count():
    """The release builds WideResNet 50, 101, 152 and 200 (the CVPR 2018 code 50 only)."""
    with torch.device('meta'):
        net = wide_resnet.build(101, k=2, wide_stem=True, num_classes=700, adaptive_pool=True)
    assert sum(p.numel() for p in net.parameters()) == 297_173_052
    assert sorted(wide_resnet.DEPTHS) == [50, 101, 152, 200]


def test_wideresnet_widens_the_stem_as_the_release_does():
    """The 2020 release's WideResNet: the stem k times wider too (the CVPR 2018 code's
    stays at 64)."""
    net = wide_resnet.build(50, k=2, wide_stem=True, num_classes=5, adaptive_pool=True)
    assert net.conv1.out_channels == 128 and net.layer1[0].conv1.in_channels == 128
    assert net.fc.in_features == 2048
    cvpr2018 = wide_resnet.build(50, k=2, num_classes=5)
    assert cvpr2018.conv1.out_channels == 64 and cvpr2018.fc.in_features == 2048
    with torch.no_grad():
        assert net.eval()(torch.zeros(1, 3, 8, 48, 64)).shape == (1, 5)


def release_2020_checkpoint(path, arch='resnet-18', family=resnet, depth=18):
    """A checkpoint in the 2020 release's layout: epoch, arch, an unprefixed state dict,
    the optimizer's and MultiStepLR's states (its milestones are a Counter)."""
    net = family.build(depth, num_classes=7, adaptive_pool=True)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [50, 100, 150])
    assert isinstance(scheduler.state_dict()['milestones'], collections.Counter)
    torch.save({'epoch': 200, 'arch': arch, 'state_dict': net.state_dict(),
                'optimizer': optimizer.state_dict(), 'scheduler': scheduler.state_dict()}, path)


@pytest.mark.parametrize('arch, family', [('resnet-18', resnet), ('resnet2p1d-18', resnet2p1d)])
def test_a_2020_checkpoint_is_taken_under_its_recipe_not_the_2018_pipeline(tmp_path, arch,
                                                                           family):
    """It loads safely (the scheduler's Counter is allowed, nothing else), its layout names
    its release, and a run without --recipe takes that release's recipe (and the network
    its arch and weights show), which a line names: through the CVPR 2018 pipeline its
    scores would be wrong."""
    import opts
    path = str(tmp_path / 'r3d18_K_200ep.pth')
    release_2020_checkpoint(path, arch, family)
    checkpoint = load_checkpoint(path)
    argv = ['--no_cuda']
    opt, recipe, line = opts.for_checkpoint('main', argv, opts.parse_opts(argv), checkpoint,
                                            path, classes=False)  # as main.py takes them
    assert recipe.name == '2020' and opt.model == arch.split('-')[0] and opt.n_classes == 400
    assert line.startswith('took --recipe 2020') and path in line and '\n' not in line
    opt, _, line = opts.for_checkpoint('inference', ['x', '--output', 'o', '--resume_path',
                                                     path], opts.parse('inference', [
                                                         'x', '--output', 'o',
                                                         '--resume_path', path]),
                                       checkpoint, path)
    assert opt.n_classes == 7 and '--n_classes 7' in line  # inference takes the classes