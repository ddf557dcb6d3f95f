"""3D ResNeXt: bottleneck blocks whose 3x3x3 convolution is split into `cardinality` groups."""
from functools import partial

from models import resnet
from models.resnet import Bottleneck, ResNet


class ResNeXtBottleneck(Bottleneck):
    expansion = 2

    def __init__(self, in_planes, planes, stride=1, downsample=None, cardinality=32):
        super().__init__(in_planes, planes, stride, downsample,
                         inner_planes=cardinality * int(planes / 32), groups=cardinality)


DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}

OPTIONS = {'shortcut_type': 'shortcut', 'cardinality': 'cardinality',
           'n_input_channels': 'n_input_channels'}
fine_tuning_prefixes = resnet.fine_tuning_prefixes


def build(depth, cardinality=32, **kwargs):
    block = partial(ResNeXtBottleneck, cardinality=cardinality)
    block.expansion = ResNeXtBottleneck.expansion
    return ResNet(block, DEPTHS[depth], stage_planes=(128, 256, 512, 1024), **kwargs)
