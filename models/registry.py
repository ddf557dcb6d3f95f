"""The model families by the name --model takes, and the one value a network is built from.

A family is one file in models/ (its DEPTHS table, a `build(depth, **options)` and the
table OPTIONS of the ModelSpec fields its build takes) and one line here (docs/extending.md);
the options, their help texts, the factory and the checkpoint checks all read this table.
The family options every recipe takes are MODEL_OPTIONS: the parser, what checkpoints record
and what inference.py rebuilds from them all read it.
Depends on nothing above models/.
"""
from dataclasses import dataclass

from argtypes import APPLIED, option, positive_int
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


def model_options():
    """The options that name the network and its family options: each sets the ModelSpec
    field it names, and checkpoints record it."""
    def model_option(*flags, spec_field, **kwargs):
        return option(*flags, group='model', programs=APPLIED, recorded=True,
                      spec_field=spec_field, **kwargs)
    return (
        model_option('--model', spec_field='model', default='resnet', choices=list(FAMILIES)),
        model_option('--model_depth', spec_field='depth', default=18, type=int,
                     help=depths_help()),
        model_option('--conv1_t_size', spec_field='conv1_t_size', default=7, type=positive_int,
                     help='temporal kernel of the first convolution (resnet)'),
        model_option('--resnet_shortcut', spec_field='shortcut', default='B',
                     choices=('A', 'B'), help='A: parameter-free shortcut, B: 1x1x1 convolution'),
        model_option('--wide_resnet_k', spec_field='widen_factor', default=2, type=positive_int,
                     help='width factor'),
        model_option('--resnext_cardinality', spec_field='cardinality', default=32,
                     type=positive_int, help='groups'),
    )


MODEL_OPTIONS = model_options()


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
    n_input_channels: int = 3  # 2 for the 2020 release's flow (--input_type flow)

    @classmethod
    def from_options(cls, opt, **decided):
        """The spec of MODEL_OPTIONS, --n_classes and the clip size as `opt` gives them;
        `decided`: fields a recipe decides instead (recipes/)."""
        fields = {o.spec_field: getattr(opt, o.dest) for o in MODEL_OPTIONS}
        fields.update(n_classes=opt.n_classes, sample_size=opt.sample_size,
                      sample_duration=opt.sample_duration)
        return cls(**dict(fields, **decided))

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
