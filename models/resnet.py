"""3D ResNet: one network parameterised by its residual block.

The other ResNet families (pre-activation, wide, ResNeXt) reuse `ResNet` with their own
block; only the blocks differ. Parameter names match the published checkpoints.
"""
import math
from functools import partial

import torch
from torch import nn
import torch.nn.functional as F


def conv3x3x3(in_planes, out_planes, stride=1, groups=1):
    return nn.Conv3d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1,
                     groups=groups, bias=False)


def conv1x1x1(in_planes, out_planes, stride=1):
    return nn.Conv3d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def shortcut_a(x, planes, stride):
    """Parameter-free shortcut: subsample T, H, W by `stride` and zero-pad the channels.

    The reference wrapped the result in a fresh Variable, which cut the gradient of the
    shortcut path; slicing and padding keep it.
    """
    out = x[:, :, ::stride, ::stride, ::stride]
    return F.pad(out, (0, 0, 0, 0, 0, 0, 0, planes - out.size(1)))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3x3(planes, planes)
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample = downsample

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes, planes, stride=1, downsample=None, inner_planes=None,
                 groups=1):
        super().__init__()
        inner = inner_planes or planes
        self.conv1 = conv1x1x1(in_planes, inner)
        self.bn1 = nn.BatchNorm3d(inner)
        self.conv2 = conv3x3x3(inner, inner, stride, groups)
        self.bn2 = nn.BatchNorm3d(inner)
        self.conv3 = conv1x1x1(inner, planes * self.expansion)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


class ResNet(nn.Module):
    """Stem, four residual stages with strides 1, 2, 2, 2, average pooling and `fc`.

    `stage_planes` are the stages' inner widths; a stage outputs `planes * block.expansion`
    channels. The stem (`make_stem`, `stem`) is a convolution of `stem_planes` channels,
    (conv1_t_size, 7, 7) with stride (conv1_t_stride, 2, 2), batch norm, ReLU and a max pool
    unless `max_pool` is False. The CVPR 2018 code pools its last feature map with a fixed
    window computed from the clip size; the 2020 release pools adaptively (`adaptive_pool`),
    which takes any clip size.
    """

    def __init__(self, block, layers, stage_planes=(64, 128, 256, 512), shortcut_type='B',
                 conv1_t_size=7, conv1_t_stride=1, max_pool=True, n_input_channels=3,
                 stem_planes=64, adaptive_pool=False, sample_size=112, sample_duration=16,
                 num_classes=400):
        super().__init__()
        self.in_planes = stem_planes
        self.shortcut_type = shortcut_type
        self.make_stem(n_input_channels, stem_planes, conv1_t_size, conv1_t_stride)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1) if max_pool else None
        strides = (1, 2, 2, 2)
        for i, (planes, n_blocks, stride) in enumerate(zip(stage_planes, layers, strides), 1):
            setattr(self, f'layer{i}', self._make_layer(block, planes, n_blocks, stride))
        if adaptive_pool:
            self.avgpool = nn.AdaptiveAvgPool3d(1)
        else:
            last_duration = math.ceil(sample_duration / 16)
            last_size = math.ceil(sample_size / 32)  # the reference's ceil (DenseNet floors)
            self.avgpool = nn.AvgPool3d((last_duration, last_size, last_size), stride=1)
        self.fc = nn.Linear(stage_planes[-1] * block.expansion, num_classes)
        init_weights(self)

    def make_stem(self, n_input_channels, planes, t_size, t_stride):
        self.conv1 = nn.Conv3d(n_input_channels, planes, kernel_size=(t_size, 7, 7),
                               stride=(t_stride, 2, 2), padding=(t_size // 2, 3, 3),
                               bias=False)
        self.bn1 = nn.BatchNorm3d(planes)

    def stem(self, x):
        return self.relu(self.bn1(self.conv1(x)))

    def _make_layer(self, block, planes, n_blocks, stride):
        out_planes = planes * block.expansion
        downsample = None
        if stride != 1 or self.in_planes != out_planes:
            if self.shortcut_type == 'A':
                downsample = partial(shortcut_a, planes=out_planes, stride=stride)
            else:
                downsample = nn.Sequential(conv1x1x1(self.in_planes, out_planes, stride),
                                           nn.BatchNorm3d(out_planes))
        blocks = [block(self.in_planes, planes, stride, downsample)]
        self.in_planes = out_planes
        blocks += [block(self.in_planes, planes) for _ in range(1, n_blocks)]
        return nn.Sequential(*blocks)

    def forward(self, x):
        x = self.stem(x)
        if self.maxpool is not None:
            x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        return self.fc(torch.flatten(x, 1))


def init_weights(model):
    """The reference's initialisation: Kaiming-normal convolutions, unit batch norms."""
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# depth -> (block, blocks per stage)
DEPTHS = {
    10: (BasicBlock, (1, 1, 1, 1)),
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
    200: (Bottleneck, (3, 24, 36, 3)),
}

# build() keyword -> the ModelSpec field it comes from (models/registry.py)
OPTIONS = {'shortcut_type': 'shortcut', 'conv1_t_size': 'conv1_t_size',
           'conv1_t_stride': 'conv1_t_stride', 'max_pool': 'max_pool',
           'widen_factor': 'resnet_widen_factor', 'adaptive_pool': 'adaptive_pool',
           'n_input_channels': 'n_input_channels'}

# The 2020 release's stage widths before --resnet_widen_factor.
WIDTHS = (64, 128, 256, 512)


def fine_tuning_prefixes(ft_begin_index):
    """Names of the modules trained when fine-tuning from block `ft_begin_index` on."""
    return [f'layer{i}' for i in range(ft_begin_index, 5)] + ['fc']


def build(depth, widen_factor=1.0, **kwargs):
    """ResNet-`depth`; `widen_factor` (the 2020 release's --resnet_widen_factor) scales
    every width, the stem's included, rounded down as the release rounds them."""
    block, layers = DEPTHS[depth]
    widths = tuple(int(w * widen_factor) for w in WIDTHS)
    return ResNet(block, layers, stage_planes=widths, stem_planes=widths[0], **kwargs)
