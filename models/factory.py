"""Build the network named by the options, load pretrained weights, pick what to train."""
import torch
from torch import nn

from distributed import wrap_model
from models import densenet, pre_act_resnet, resnet, resnext, wide_resnet
from models.checkpoint import head_name, load_model_file
from runtime import Runtime
from utils import UserError, one_line

# name -> (module with DEPTHS and build(), builder keyword arguments taken from the options)
FAMILIES = {
    'resnet': (resnet, lambda o: dict(shortcut_type=o.resnet_shortcut,
                                      conv1_t_size=o.conv1_t_size)),
    'preresnet': (pre_act_resnet, lambda o: dict(shortcut_type=o.resnet_shortcut)),
    'wideresnet': (wide_resnet, lambda o: dict(shortcut_type=o.resnet_shortcut,
                                               k=o.wide_resnet_k)),
    'resnext': (resnext, lambda o: dict(shortcut_type=o.resnet_shortcut,
                                        cardinality=o.resnext_cardinality)),
    'densenet': (densenet, lambda o: {}),
}


def supported_depths(model_name):
    return sorted(FAMILIES[model_name][0].DEPTHS)


def fine_tuning_prefixes(model_name, ft_begin_index):
    """Names of the modules trained when fine-tuning from block `ft_begin_index` on."""
    if model_name == 'densenet':
        names = [f'{kind}{i}' for i in range(ft_begin_index, 5)
                 for kind in ('denseblock', 'transition')]
        return names + ['norm5', 'classifier']
    return [f'layer{i}' for i in range(ft_begin_index, 5)] + ['fc']


def build_model(opt, n_classes):
    if opt.model not in FAMILIES:
        raise UserError(f'unknown --model {opt.model!r}: choose from {", ".join(FAMILIES)}')
    family, options = FAMILIES[opt.model]
    if opt.model_depth not in family.DEPTHS:
        raise UserError(f'--model {opt.model} has no depth {opt.model_depth}: choose '
                        f'--model_depth from {", ".join(map(str, supported_depths(opt.model)))}')
    if opt.model == 'densenet' and (opt.sample_duration < 16 or opt.sample_size < 32):
        # Three 2x2x2 average-pooling transitions need at least 16 frames and 32 pixels.
        raise UserError(f'densenet needs --sample_duration >= 16 and --sample_size >= 32 '
                        f'(got {opt.sample_duration} and {opt.sample_size})')
    return family.build(opt.model_depth, sample_size=opt.sample_size,
                        sample_duration=opt.sample_duration, num_classes=n_classes,
                        **options(opt))


def check_input_fits(opt, batch_size=None):
    """Run the network the options build once on the meta device (shapes only: no memory,
    no arithmetic) with the run's clips, training in batches of `batch_size` if given, so
    that sizes the network cannot take fail now, in one line, not hours into a run."""
    with torch.device('meta'):
        model = build_model(opt, opt.n_classes)
        clips = torch.empty(batch_size or 1, 3, opt.sample_duration, opt.sample_size,
                            opt.sample_size)
    model.train(batch_size is not None)
    try:
        with torch.no_grad():
            model(clips)
    except (RuntimeError, ValueError) as e:
        batches = f' in training batches of --batch_size {batch_size}' if batch_size else ''
        raise UserError(f'{opt.arch} cannot take clips of --sample_duration '
                        f'{opt.sample_duration} frames of --sample_size {opt.sample_size} '
                        f'pixels{batches}: {one_line(e, 160)}') from None


def load_pretrained(model, opt):
    """Load --pretrain_path (its arch must be this one) and put in a new classifier."""
    load_model_file(model, opt.pretrain_path, f'{opt.model}-{opt.model_depth}',
                    lambda saved: f'set --n_classes {saved} (the pretrained model\'s) and '
                                  '--n_finetune_classes to the classes of your data')
    name = head_name(model)
    setattr(model, name, nn.Linear(getattr(model, name).in_features, opt.n_finetune_classes))


def fine_tuning_parameters(model, model_name, ft_begin_index):
    """All parameters (ft_begin_index 0) or, from block k on, a trained group first and a
    frozen group with learning rate 0. Frozen parameters also stop requiring gradients,
    which spares their backward pass and changes nothing else (their step would be 0)."""
    if ft_begin_index == 0:
        return model.parameters()
    prefixes = fine_tuning_prefixes(model_name, ft_begin_index)
    trained, frozen = [], []
    for name, p in model.named_parameters():
        if any(prefix in name for prefix in prefixes):
            trained.append(p)
        else:
            p.requires_grad_(False)
            frozen.append(p)
    return [{'params': trained}, {'params': frozen, 'lr': 0.0}]


def create_model(opt):
    """(the bare model, the parameters to optimise), as the options say: built with
    --n_classes outputs, or from --pretrain_path with a new classifier of
    --n_finetune_classes outputs whose training starts at --ft_begin_index."""
    model = build_model(opt, opt.n_classes)
    parameters = model.parameters()
    if opt.pretrain_path:
        load_pretrained(model, opt)
        parameters = fine_tuning_parameters(model, opt.model, opt.ft_begin_index)
    return model, parameters


def generate_model(opt):
    """(model, parameters to optimise), as the reference's generate_model returned them:
    on CUDA (unless --no_cuda) the model is on the GPU in DataParallel over all visible
    GPUs. main.py builds with create_model and wraps for its runtime itself."""
    model, parameters = create_model(opt)
    use_cuda = not opt.no_cuda and torch.cuda.is_available()
    return wrap_model(model, Runtime(device=torch.device('cuda' if use_cuda else 'cpu'))), \
        parameters
