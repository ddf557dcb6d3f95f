"""Pre-activation 3D ResNet (He et al., 2016): batch norm and ReLU before each convolution.

The block adds the shortcut of its raw input and applies no ReLU after the sum; the network
is otherwise the generic `ResNet`.
"""
from torch import nn

from models import resnet
from models.resnet import ResNet, conv1x1x1, conv3x3x3


class PreActivationBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1, downsample=None):
        super().__init__()
        self.bn1 = nn.BatchNorm3d(in_planes)
        self.conv1 = conv3x3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv2 = conv3x3x3(planes, planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        return out + residual


class PreActivationBottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes, planes, stride=1, downsample=None):
        super().__init__()
        self.bn1 = nn.BatchNorm3d(in_planes)
        self.conv1 = conv1x1x1(in_planes, planes)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv2 = conv3x3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm3d(planes)
        self.conv3 = conv1x1x1(planes, planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + residual


DEPTHS = {
    18: (PreActivationBasicBlock, (2, 2, 2, 2)),
    34: (PreActivationBasicBlock, (3, 4, 6, 3)),
    50: (PreActivationBottleneck, (3, 4, 6, 3)),
    101: (PreActivationBottleneck, (3, 4, 23, 3)),
    152: (PreActivationBottleneck, (3, 8, 36, 3)),
    200: (PreActivationBottleneck, (3, 24, 36, 3)),
}

OPTIONS = {'shortcut_type': 'shortcut', 'n_input_channels': 'n_input_channels'}
fine_tuning_prefixes = resnet.fine_tuning_prefixes


def build(depth, **kwargs):
    block, layers = DEPTHS[depth]
    return ResNet(block, layers, **kwargs)
