"""R(2+1)D (Tran et al., 2018), as the 2020 release of the reference builds it: the 3D
ResNet with every 3x3x3 convolution factorised into a spatial 1x3x3 and a temporal 3x1x1
one, with batch norm and ReLU between them.

The middle width of a factorised convolution from `in` to `out` channels keeps the 3x3x3
convolution's parameter count: (in * out * 27) // (in * 9 + 3 * out); the stem's likewise
for its (t, 7, 7) kernel. Parameter names are the release's (`conv1_s`, `bn1_s`, `conv1_t`,
`bn1_t`, ...), so its published checkpoints (`r2p1d18_K_200ep.pth`, ...) load strictly.
"""
from torch import nn

from models import resnet
from models.resnet import ResNet, conv1x1x1


def middle_width(in_planes, out_planes, kernel_volume=27, spatial=9, temporal=3):
    return (in_planes * out_planes * kernel_volume) // (
        in_planes * spatial + temporal * out_planes)


def spatial_conv(in_planes, out_planes, stride=1):
    return nn.Conv3d(in_planes, out_planes, kernel_size=(1, 3, 3), stride=(1, stride, stride),
                     padding=(0, 1, 1), bias=False)


def temporal_conv(in_planes, out_planes, stride=1):
    return nn.Conv3d(in_planes, out_planes, kernel_size=(3, 1, 1), stride=(stride, 1, 1),
                     padding=(1, 0, 0), bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1, downsample=None):
        super().__init__()
        mid = middle_width(in_planes, planes)
        self.conv1_s = spatial_conv(in_planes, mid, stride)
        self.bn1_s = nn.BatchNorm3d(mid)
        self.conv1_t = temporal_conv(mid, planes, stride)
        self.bn1_t = nn.BatchNorm3d(planes)
        mid = middle_width(planes, planes)
        self.conv2_s = spatial_conv(planes, mid)
        self.bn2_s = nn.BatchNorm3d(mid)
        self.conv2_t = temporal_conv(mid, planes)
        self.bn2_t = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1_s(self.conv1_s(x)))
        out = self.relu(self.bn1_t(self.conv1_t(out)))
        out = self.relu(self.bn2_s(self.conv2_s(out)))
        out = self.bn2_t(self.conv2_t(out))
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1x1(in_planes, planes)
        self.bn1 = nn.BatchNorm3d(planes)
        mid = middle_width(planes, planes)
        self.conv2_s = spatial_conv(planes, mid, stride)
        self.bn2_s = nn.BatchNorm3d(mid)
        self.conv2_t = temporal_conv(mid, planes, stride)
        self.bn2_t = nn.BatchNorm3d(planes)
        self.conv3 = conv1x1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2_s(self.conv2_s(out)))
        out = self.relu(self.bn2_t(self.conv2_t(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


class ResNet2p1d(ResNet):
    """The generic ResNet with the factorised stem: conv1_s (1, 7, 7) to the middle width,
    bn1_s, ReLU, conv1_t (t, 1, 1), bn1_t."""

    def make_stem(self, n_input_channels, planes, t_size, t_stride):
        mid = middle_width(n_input_channels, planes, t_size * 49, 49, t_size)
        self.conv1_s = nn.Conv3d(n_input_channels, mid, kernel_size=(1, 7, 7),
                                 stride=(1, 2, 2), padding=(0, 3, 3), bias=False)
        self.bn1_s = nn.BatchNorm3d(mid)
        self.conv1_t = nn.Conv3d(mid, planes, kernel_size=(t_size, 1, 1),
                                 stride=(t_stride, 1, 1), padding=(t_size // 2, 0, 0),
                                 bias=False)
        self.bn1_t = nn.BatchNorm3d(planes)

    def stem(self, x):
        x = self.relu(self.bn1_s(self.conv1_s(x)))
        return self.relu(self.bn1_t(self.conv1_t(x)))


DEPTHS = {depth: ({resnet.BasicBlock: BasicBlock, resnet.Bottleneck: Bottleneck}[block], layers)
          for depth, (block, layers) in resnet.DEPTHS.items()}

OPTIONS = resnet.OPTIONS
fine_tuning_prefixes = resnet.fine_tuning_prefixes


def build(depth, widen_factor=1.0, **kwargs):
    block, layers = DEPTHS[depth]
    widths = tuple(int(w * widen_factor) for w in resnet.WIDTHS)
    return ResNet2p1d(block, layers, stage_planes=widths, stem_planes=widths[0], **kwargs)
