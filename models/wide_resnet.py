"""Wide 3D ResNet: bottleneck blocks of expansion 2 with every stage `k` times wider."""
from models import resnet
from models.resnet import Bottleneck, ResNet


class WideBottleneck(Bottleneck):
    expansion = 2


# The CVPR 2018 code built 50 only; the 2020 release also 101, 152 and 200.
DEPTHS = {50: (WideBottleneck, (3, 4, 6, 3)), 101: (WideBottleneck, (3, 4, 23, 3)),
          152: (WideBottleneck, (3, 8, 36, 3)), 200: (WideBottleneck, (3, 24, 36, 3))}

OPTIONS = {'shortcut_type': 'shortcut', 'k': 'widen_factor', 'wide_stem': 'wide_stem',
           'conv1_t_stride': 'conv1_t_stride', 'max_pool': 'max_pool',
           'adaptive_pool': 'adaptive_pool', 'n_input_channels': 'n_input_channels'}
fine_tuning_prefixes = resnet.fine_tuning_prefixes


def build(depth, k=2, wide_stem=False, **kwargs):
    """WideResNet-`depth`: every stage `k` times wider; the stem too with `wide_stem` (the
    2020 release widens it, the CVPR 2018 code keeps it at 64)."""
    block, layers = DEPTHS[depth]
    widths = tuple(p * k for p in resnet.WIDTHS)
    return ResNet(block, layers, stage_planes=widths,
                  stem_planes=widths[0] if wide_stem else resnet.WIDTHS[0], **kwargs)
