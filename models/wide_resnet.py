"""Wide 3D ResNet: bottleneck blocks of expansion 2 with every stage `k` times wider."""
from models import resnet
from models.resnet import Bottleneck, ResNet


class WideBottleneck(Bottleneck):
    expansion = 2


DEPTHS = {50: (WideBottleneck, (3, 4, 6, 3))}

OPTIONS = {'shortcut_type': 'shortcut', 'k': 'widen_factor'}
fine_tuning_prefixes = resnet.fine_tuning_prefixes


def build(depth, k=2, **kwargs):
    block, layers = DEPTHS[depth]
    return ResNet(block, layers, stage_planes=tuple(p * k for p in (64, 128, 256, 512)), **kwargs)
