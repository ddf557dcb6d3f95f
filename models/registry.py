"""The model families by the name --model takes, and the one value a network is built from.

A family is one file in models/ (its DEPTHS table, a `build(depth, **options)` and the
table OPTIONS of the ModelSpec fields its build takes) and one line here (docs/extending.md);
the options, their help texts, the factory and the checkpoint checks all read this table.
Depends on nothing above models/.
"""
from dataclasses import dataclass

from models import densenet, pre_act_resnet, resnet, resnet2p1d, resnext, wide_resnet

FAMILIES = {
    'resnet': resnet,
    'preresnet': pre_act_resnet,
    'wideresnet': wide_resnet,
    'resnext': resnext,
    'densenet': densenet,
    'resnet2p1d': resnet2p1d,  # the 2020 release's (--recipe 2020)
}


def supported_depths(model_name):
    return sorted(FAMILIES[model_name].DEPTHS)


def depths_help():
    """'resnet 10/18/..., preresnet ...': every family's depths, for --model_depth's help."""
    return ', '.join(f'{name} {"/".join(map(str, supported_depths(name)))}'
                     for name in FAMILIES)


@dataclass(frozen=True)
class ModelSpec:
    """Which network, how deep, with which family options, for which clips and classes."""
    model: str = 'resnet'
    depth: int = 18
    n_classes: int = 400
    sample_size: int = 112
    sample_duration: int = 16
    shortcut: str = 'B'  # A: parameter-free shortcut, B: 1x1x1 convolution
    conv1_t_size: int = 7  # resnet: temporal kernel of the first convolution
    widen_factor: int = 2  # wideresnet
    cardinality: int = 32  # resnext
    # resnet and resnet2p1d as the 2020 release builds them (the recipe decides these)
    conv1_t_stride: int = 1
    max_pool: bool = True
    resnet_widen_factor: float = 1.0
    adaptive_pool: bool = False  # the 2020 release pools adaptively (any clip size)
    wide_stem: bool = False  # wideresnet: the 2020 release widens the stem too

    @classmethod
    def from_options(cls, opt, recipe_options=None):
        """The spec of the options; `recipe_options`: the fields the run's recipe decides
        (recipes/)."""
        return cls(opt.model, opt.model_depth, opt.n_classes, opt.sample_size,
                   opt.sample_duration, opt.resnet_shortcut, opt.conv1_t_size,
                   opt.wide_resnet_k, opt.resnext_cardinality, **(recipe_options or {}))

    @property
    def arch(self):
        """What checkpoints record: `resnet-34`."""
        return f'{self.model}-{self.depth}'

    @property
    def family(self):
        return FAMILIES[self.model]

    def build_options(self):
        """The keyword arguments of the family's build(): its OPTIONS, from this spec."""
        return {argument: getattr(self, field)
                for argument, field in self.family.OPTIONS.items()}
