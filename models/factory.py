"""Build the network a ModelSpec names, load pretrained weights, pick what to train."""
from dataclasses import dataclass

import torch
from torch import nn

from models.checkpoint import head_name, load_model_file
from models.registry import FAMILIES, ModelSpec, supported_depths
from utils import UserError, one_line


def build_model(spec, n_classes=None):
    """The network of `spec`, with `n_classes` outputs (default: the spec's)."""
    if spec.model not in FAMILIES:
        raise UserError(f'unknown --model {spec.model!r}: choose from {", ".join(FAMILIES)}')
    family = spec.family
    if spec.depth not in family.DEPTHS:
        raise UserError(f'--model {spec.model} has no depth {spec.depth}: choose '
                        f'--model_depth from {", ".join(map(str, supported_depths(spec.model)))}')
    min_duration, min_size = getattr(family, 'MIN_DURATION', 1), getattr(family, 'MIN_SIZE', 1)
    if spec.sample_duration < min_duration or spec.sample_size < min_size:
        raise UserError(f'{spec.model} needs --sample_duration >= {min_duration} and '
                        f'--sample_size >= {min_size} (got {spec.sample_duration} and '
                        f'{spec.sample_size})')
    return family.build(spec.depth, sample_size=spec.sample_size,
                        sample_duration=spec.sample_duration,
                        num_classes=spec.n_classes if n_classes is None else n_classes,
                        **spec.build_options())


def check_input_fits(spec, batch_size=None):
    """Run the network of `spec` once on the meta device (shapes only: no memory, no
    arithmetic) with its clips, training in batches of `batch_size` if given, so that sizes
    the network cannot take fail now, in one line, not hours into a run."""
    with torch.device('meta'):
        model = build_model(spec)
        clips = torch.empty(batch_size or 1, spec.n_input_channels, spec.sample_duration, spec.sample_size,
                            spec.sample_size)
    model.train(batch_size is not None)
    try:
        with torch.no_grad():
            model(clips)
    except (RuntimeError, ValueError) as e:
        batches = f' in training batches of --batch_size {batch_size}' if batch_size else ''
        raise UserError(f'{spec.arch} cannot take clips of --sample_duration '
                        f'{spec.sample_duration} frames of --sample_size {spec.sample_size} '
                        f'pixels{batches}: {one_line(e, 160)}') from None


@dataclass(frozen=True)
class FineTuning:
    """A pretrained model to start from, as a recipe reads its options: the file, the new
    classifier's classes and the flag that sets them, which parameters train (from block
    `begin_index`, the CVPR 2018 code's way, or from the top-level module `begin_module`,
    the 2020 release's), and what to say when the file's classes are not the built model's
    (`pretrained_classes_advice`, with {saved} for the file's)."""
    path: str
    n_classes: int
    classes_flag: str = '--n_finetune_classes'
    begin_index: int = 0
    begin_module: str = ''
    pretrained_classes_advice: str = ('set --n_classes {saved} (the pretrained model\'s) and '
                                      '--n_finetune_classes to the classes of your data')


def trains_on_one_clip(spec):
    """Whether training can take a batch of a single clip: not where a batch norm would see
    one value per channel (a 1x1x1 feature map), which PyTorch refuses."""
    try:
        check_input_fits(spec, 1)
    except UserError:
        return False
    return True


def load_pretrained(model, spec, fine_tuning, checkpoint=None):
    """Load the pretrained file (or `checkpoint`, loaded from it already; its arch must be
    the spec's) and put in a new classifier of the fine-tuned classes; returns the
    checkpoint."""
    advice = fine_tuning.pretrained_classes_advice
    checkpoint = load_model_file(model, fine_tuning.path, spec.arch,
                                 lambda saved: advice.format(saved=saved), checkpoint)
    name = head_name(model)
    setattr(model, name, nn.Linear(getattr(model, name).in_features, fine_tuning.n_classes))
    return checkpoint


def fine_tuning_parameters(model, model_name, ft_begin_index):
    """All parameters (ft_begin_index 0) or, from block k on, a trained group first and a
    frozen group with learning rate 0. Frozen parameters also stop requiring gradients,
    which spares their backward pass and changes nothing else (their step would be 0)."""
    if ft_begin_index == 0:
        return model.parameters()
    prefixes = FAMILIES[model_name].fine_tuning_prefixes(ft_begin_index)
    trained, frozen = [], []
    for name, p in model.named_parameters():
        if any(prefix in name for prefix in prefixes):
            trained.append(p)
        else:
            p.requires_grad_(False)
            frozen.append(p)
    return [{'params': trained}, {'params': frozen, 'lr': 0.0}]


def top_level_module(parameter_name):
    """The module a parameter belongs to, as --ft_begin_module names it (DenseNet's
    `features.` left out, as the release leaves it out)."""
    parts = parameter_name.split('.')
    return parts[1] if parts[0] == 'features' and len(parts) > 2 else parts[0]


def parameters_from_module(model, module):
    """The 2020 release's fine-tuning (--ft_begin_module): the parameters from the first
    whose top-level module is `module` on, in named_parameters() order, each in its own
    group as the release gives them (so that its optimizer states load); the others stop
    requiring gradients and stay in the model (batch norm still updates its statistics)."""
    names = [top_level_module(name) for name, _ in model.named_parameters()]
    if module not in names:
        raise UserError(f'--ft_begin_module {module}: {type(model).__name__} has no such '
                        f'top-level module; choose from {", ".join(dict.fromkeys(names))}')
    first = names.index(module)
    groups = []
    for k, (_, p) in enumerate(model.named_parameters()):
        if k >= first:
            groups.append({'params': p})
        else:
            p.requires_grad_(False)
    return groups


def create_model(spec, fine_tuning=None, pretrained=None):
    """(the bare model, the parameters to optimise, the pretrained checkpoint or None):
    built with the spec's classes, or, fine-tuning, from the pretrained file (or
    `pretrained`, its checkpoint loaded already) with a new classifier whose training
    starts where `fine_tuning` says."""
    model = build_model(spec)
    if fine_tuning is None:
        return model, model.parameters(), None
    pretrained = load_pretrained(model, spec, fine_tuning, pretrained)
    parameters = parameters_from_module(model, fine_tuning.begin_module) \
        if fine_tuning.begin_module else \
        fine_tuning_parameters(model, spec.model, fine_tuning.begin_index)
    return model, parameters, pretrained


def generate_model(opt):
    """(model, parameters to optimise), as the reference's generate_model returned them
    from its options: on CUDA (unless --no_cuda) the model is on the GPU in DataParallel
    over all visible GPUs. main.py builds with create_model and wraps for its runtime."""
    fine_tuning = FineTuning(opt.pretrain_path, opt.n_finetune_classes,
                             begin_index=opt.ft_begin_index) if opt.pretrain_path else None
    model, parameters, _ = create_model(ModelSpec.from_options(opt), fine_tuning)
    if not opt.no_cuda and torch.cuda.is_available():
        model = nn.DataParallel(model.cuda())
    return model, parameters
