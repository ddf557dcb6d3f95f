"""3D DenseNet (Huang et al., 2017) with the reference's module names.

Published checkpoints name a dense layer's modules `norm.1`, `conv.1`, `norm.2`, `conv.2`;
PyTorch no longer allows dots in module names, so they are `norm1` ... here and
`models.checkpoint` translates on load.
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

from models.resnet import init_weights


class DenseLayer(nn.Sequential):
    def __init__(self, in_features, growth_rate, bn_size):
        super().__init__()
        self.norm1 = nn.BatchNorm3d(in_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv3d(in_features, bn_size * growth_rate, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm3d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv3d(bn_size * growth_rate, growth_rate, kernel_size=3, padding=1,
                               bias=False)

    def forward(self, x):
        return torch.cat([x, super().forward(x)], 1)


class Transition(nn.Sequential):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.norm = nn.BatchNorm3d(in_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=1, bias=False)
        self.pool = nn.AvgPool3d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    def __init__(self, block_config, growth_rate=32, num_init_features=64, bn_size=4,
                 sample_size=112, sample_duration=16, num_classes=400, n_input_channels=3):
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module('conv0', nn.Conv3d(n_input_channels, num_init_features, kernel_size=7,
                                                    stride=(1, 2, 2), padding=3, bias=False))
        self.features.add_module('norm0', nn.BatchNorm3d(num_init_features))
        self.features.add_module('relu0', nn.ReLU(inplace=True))
        self.features.add_module('pool0', nn.MaxPool3d(kernel_size=3, stride=2, padding=1))
        n_features = num_init_features
        for i, n_layers in enumerate(block_config, 1):
            block = nn.Sequential()
            for j in range(n_layers):
                block.add_module(f'denselayer{j + 1}',
                                 DenseLayer(n_features + j * growth_rate, growth_rate, bn_size))
            self.features.add_module(f'denseblock{i}', block)
            n_features += n_layers * growth_rate
            if i != len(block_config):
                self.features.add_module(f'transition{i}',
                                         Transition(n_features, n_features // 2))
                n_features //= 2
        self.features.add_module('norm5', nn.BatchNorm3d(n_features))
        # The reference's floor (the ResNets take the ceil), kept.
        self.pool_size = (math.ceil(sample_duration / 16), sample_size // 32, sample_size // 32)
        self.classifier = nn.Linear(n_features, num_classes)
        init_weights(self)

    def forward(self, x):
        x = F.relu(self.features(x), inplace=True)
        x = F.avg_pool3d(x, kernel_size=self.pool_size)
        return self.classifier(torch.flatten(x, 1))


DEPTHS = {
    121: (6, 12, 24, 16),
    169: (6, 12, 32, 32),
    201: (6, 12, 48, 32),
    264: (6, 12, 64, 48),
}

OPTIONS = {'n_input_channels': 'n_input_channels'}
# Three 2x2x2 average-pooling transitions need at least 16 frames and 32 pixels.
MIN_DURATION, MIN_SIZE = 16, 32


def fine_tuning_prefixes(ft_begin_index):
    """Names of the modules trained when fine-tuning from block `ft_begin_index` on."""
    names = [f'{kind}{i}' for i in range(ft_begin_index, 5)
             for kind in ('denseblock', 'transition')]
    return names + ['norm5', 'classifier']


def build(depth, **kwargs):
    return DenseNet(DEPTHS[depth], **kwargs)
