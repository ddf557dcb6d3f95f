"""Command-line options: the reference's flags, defaults and derived values."""
import argparse
import copy
import os
import sys

from datasets.registry import DATASETS
from models.registry import FAMILIES, depths_help, supported_depths
from recipes import DEFAULT, RECIPES, misplaced_flag, recipe_name, recipe_of, release2020
PATH_OPTIONS = ('video_path', 'annotation_path', 'result_path', 'resume_path', 'pretrain_path')


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {text}')
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be 0 or more, got {text}')
    return value


def positive_float(text):
    value = float(text)
    if not value > 0 or value == float('inf'):
        raise argparse.ArgumentTypeError(f'must be a positive number, got {text}')
    return value


def non_negative_float(text):
    value = float(text)
    if not value >= 0 or value == float('inf'):
        raise argparse.ArgumentTypeError(f'must be 0 or more, got {text}')
    return value


def unit_fraction(text):
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f'must lie in (0, 1], got {text}')
    return value


class OneLineParser(argparse.ArgumentParser):
    """Report a usage error in one line instead of the whole usage text."""

    def error(self, message):
        self.exit(2, f'{self.prog}: error: {message} (see --help)\n')


def build_parser(recipe=None):
    """main.py's parser; `recipe` (--recipe as given) sets its defaults of the options both
    recipes share."""
    p = OneLineParser(
        prog='main.py', description='Train, fine-tune and test 3D CNNs for action recognition.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)

    g = p.add_argument_group('data')
    g.add_argument('--root_path', default='', type=str,
                   help='when set, joined in front of the relative path options')
    g.add_argument('--video_path', default='video_kinetics_jpg', type=str,
                   help='folder of frame folders, or of video files in the same layout')
    g.add_argument('--annotation_path', default='kinetics.json', type=str,
                   help='annotation JSON file')
    g.add_argument('--result_path', default='results', type=str,
                   help='output folder (created if missing)')
    g.add_argument('--dataset', default='kinetics', choices=list(DATASETS),
                   help='layout of the annotation file and the video folder')
    g.add_argument('--n_finetune_classes', default=400, type=positive_int,
                   help='classes of the new classifier when --pretrain_path is given')
    g.add_argument('--initial_scale', default=1.0, type=positive_float,
                   help='first multi-scale crop scale')
    g.add_argument('--n_scales', default=5, type=positive_int, help='number of crop scales')
    g.add_argument('--scale_step', default=0.84089641525, type=positive_float,
                   help='ratio between consecutive crop scales')
    g.add_argument('--train_crop', default='corner', choices=('random', 'corner', 'center'),
                   help='spatial crop in training')
    g.add_argument('--no_hflip', action='store_true', help='no horizontal flipping in training')
    g.add_argument('--input_format', default='auto', choices=('auto', 'frames', 'videos'),
                   help='what --video_path holds: frame folders (the reference\'s layout) or '
                        'video files in the same layout (<label>/<key>.mp4, v_<key>.mp4, any '
                        'extension the decoder reads); auto: found by looking')
    g.add_argument('--fast_training_clips', action='store_true',
                   help="only where the native clip core (native/, built by make install) "
                        "is missing: resize training clips with PyTorch's uint8 kernel "
                        "instead of PIL's, 1 or 2 grey levels off the reference's clips in a "
                        'small fraction of values. With the core, training clips are exact '
                        'and faster, and this changes nothing')
    g.add_argument('--n_val_samples', default=3, type=positive_int,
                   help='clips per video in validation')
    g.add_argument('--test_subset', default='val', choices=('val', 'test'),
                   help='annotation subset of the test pass (validation or testing)')
    add_clip_options(p.add_argument_group('clips'))

    g = p.add_argument_group('model')
    add_model_options(g)
    g.add_argument('--pretrain_path', default='', type=str,
                   help='pretrained checkpoint to fine-tune')
    g.add_argument('--ft_begin_index', default=0, type=int, choices=range(0, 6),
                   help='first block to fine-tune (0: all)')

    g = p.add_argument_group('optimisation')
    g.add_argument('--learning_rate', default=0.1, type=positive_float,
                   help='initial learning rate')
    g.add_argument('--momentum', default=0.9, type=non_negative_float)
    g.add_argument('--dampening', default=0.9, type=non_negative_float,
                   help='SGD dampening (0 with --nesterov)')
    g.add_argument('--weight_decay', default=1e-3, type=non_negative_float)
    g.add_argument('--nesterov', action='store_true', help='Nesterov momentum')
    g.add_argument('--optimizer', default='sgd', choices=('sgd',))
    g.add_argument('--lr_patience', default=10, type=non_negative_int,
                   help='patience of the plateau scheduler')

    g = p.add_argument_group('devices and speed')
    add_compute_options(g)
    g.add_argument('--sync_bn', action='store_true',
                   help='with --distributed, batch-norm statistics over all processes (CUDA)')

    g = p.add_argument_group('run control')
    g.add_argument('--n_epochs', default=200, type=positive_int, help='last epoch (inclusive)')
    g.add_argument('--begin_epoch', default=1, type=positive_int,
                   help='first epoch; replaced by the checkpoint\'s when resuming')
    g.add_argument('--resume_path', default='', type=str, help='checkpoint to continue from')
    g.add_argument('--no_train', action='store_true', help='skip training')
    g.add_argument('--no_val', action='store_true', help='skip validation')
    g.add_argument('--test', action='store_true', help='run the test pass')
    g.add_argument('--no_softmax_in_test', action='store_true',
                   help='average raw scores instead of softmax probabilities in test')
    g.add_argument('--checkpoint', default=10, type=positive_int,
                   help='save every this many epochs')
    g.add_argument('--max_bad_clips', default=0.01, type=non_negative_float,
                   help='damaged clips (missing or corrupt frames) an epoch may leave out '
                        'before the run stops, resumably: a count if 1 or more, a fraction '
                        'of the epoch\'s clips if less, none if 0')
    g.add_argument('--manual_seed', default=1, type=int,
                   help='seed of torch, random, numpy and the loader workers')
    g.add_argument('--debug', action='store_true',
                   help='show the traceback of errors instead of one line')
    g.add_argument('--tensorboard', action='store_true',
                   help='also write the epochs\' loss, accuracy and learning rate as '
                        'TensorBoard curves into the result folder (needs tensorboard)')
    add_recipe_option(g)

    g = p.add_argument_group("the 2020 release's (--recipe 2020)")
    release2020.add_options(g)
    release2020.add_main_options(g)
    p.set_defaults(**RECIPES[recipe or DEFAULT].DEFAULTS)
    if recipe:  # --help under a recipe given: the other recipe's own options left out
        others = set().union(*(r.OWN_OPTIONS for name, r in RECIPES.items() if name != recipe))
        for action in p._actions:
            if action.dest in others:
                action.help = argparse.SUPPRESS
    return p


# -- option groups that inference.py shares ------------------------------------------------

def add_clip_options(g):
    """How clips are sized and normalised, and how the test pass crops them."""
    g.add_argument('--sample_size', default=112, type=positive_int, help='clip height and width')
    g.add_argument('--sample_duration', default=16, type=positive_int, help='frames per clip')
    g.add_argument('--mean_dataset', default=None, choices=('activitynet', 'kinetics', '0.5'),
                   help='dataset whose mean is subtracted (default: activitynet; kinetics '
                        'under --recipe 2020, which also takes 0.5)')
    g.add_argument('--no_mean_norm', action='store_true', help='do not subtract the mean')
    g.add_argument('--std_norm', action='store_true', help='divide by the standard deviation')
    g.add_argument('--norm_value', default=1, type=positive_int,
                   help='pixel values are divided by this (1: 0-255, 255: 0-1)')
    g.add_argument('--scale_in_test', default=1.0, type=positive_float,
                   help='spatial scale in test')
    g.add_argument('--crop_position_in_test', default='c', choices=('c', 'tl', 'tr', 'bl', 'br'),
                   help='crop position in test')


def add_recipe_option(g):
    g.add_argument('--recipe', default=None, choices=list(RECIPES),
                   help='the release whose pipeline and models a run reproduces: cvpr2018 '
                        '(the default) or 2020 (docs/recipes.md)')


def add_model_options(g):
    """The architecture: which network, how deep, its family's options, its classes."""
    g.add_argument('--model', default='resnet', choices=list(FAMILIES))
    g.add_argument('--model_depth', default=18, type=int, help=depths_help())
    g.add_argument('--conv1_t_size', default=7, type=positive_int,
                   help='temporal kernel of the first convolution (resnet)')
    g.add_argument('--resnet_shortcut', default='B', choices=('A', 'B'),
                   help='A: parameter-free shortcut, B: 1x1x1 convolution')
    g.add_argument('--wide_resnet_k', default=2, type=positive_int, help='width factor')
    g.add_argument('--resnext_cardinality', default=32, type=positive_int, help='groups')
    g.add_argument('--n_classes', default=400, type=positive_int,
                   help='classes of the model as built (of the pretrained model when fine-tuning)')


def add_compute_options(g):
    """Where and how fast: device, precision, processes, batches, loader workers."""
    g.add_argument('--no_cuda', action='store_true', help='run on the CPU')
    g.add_argument('--batch_size', default=128, type=positive_int,
                   help='clips per batch; with --distributed, per process')
    g.add_argument('--n_threads', default=4, type=non_negative_int,
                   help='data-loading worker processes (0: load in the main process)')
    g.add_argument('--distributed', action='store_true',
                   help='one process per GPU under torchrun (DistributedDataParallel); '
                        '--batch_size is then per process')
    g.add_argument('--amp', action='store_true',
                   help='mixed precision: bfloat16 where supported (recent GPUs, CPUs with '
                        'bfloat16 instructions), float16 with gradient scaling on older '
                        'GPUs; float32 (said in one line) on CPUs without bfloat16')
    g.add_argument('--channels_last', action='store_true',
                   help='channels-last 3-D memory format for model and inputs')


def add_derived_options(parser, opt):
    """Check the model's depth and add `arch`, `mean` and `std`, as both programs need
    (recorded in opts.json)."""
    if opt.model_depth not in supported_depths(opt.model):
        parser.error(f'argument --model_depth: {opt.model} has no depth {opt.model_depth} '
                     f'(choose from {", ".join(map(str, supported_depths(opt.model)))})')
    if int(opt.sample_size / opt.scale_in_test) < opt.sample_size:
        parser.error(f'argument --scale_in_test: {opt.scale_in_test:g} scales frames to '
                     f'{int(opt.sample_size / opt.scale_in_test)} pixels, smaller than the '
                     f'--sample_size {opt.sample_size} crop (use at most 1)')
    opt.arch = f'{opt.model}-{opt.model_depth}'
    recipe = recipe_of(opt)
    opt.mean_dataset = opt.mean_dataset or recipe.MEAN_DATASET
    if opt.mean_dataset not in recipe.MEAN_DATASETS:
        parser.error(f'argument --mean_dataset: {opt.mean_dataset} is a choice of --recipe '
                     f'2020 (this run is --recipe {recipe_name(opt)})')
    opt.mean, opt.std = recipe.mean_std(opt)
    return opt


def explicit_options(parser, argv):
    """The names of the options `argv` gives (not left at their defaults)."""
    shadow = copy.deepcopy(parser)
    for action in shadow._actions:
        action.default = argparse.SUPPRESS
    return sorted(vars(shadow.parse_args(argv)))


def recipe_given(argv):
    """--recipe as `argv` gives it (None without), before the whole line is parsed: it sets
    the parser's defaults."""
    pre = argparse.ArgumentParser(add_help=False)
    add_recipe_option(pre)
    try:
        known, _ = pre.parse_known_args(argv)
    except SystemExit:  # an invalid --recipe: the whole parser says so
        return None
    return known.recipe


def parse_opts(argv=None):
    """Parse `argv` (default: sys.argv) and add the derived options."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(recipe_given(argv))
    opt = parser.parse_args(argv)
    # When resuming, these win over the checkpoint's (say, a lower learning rate).
    opt.explicit = explicit_options(parser, argv)
    misplaced = misplaced_flag(opt, opt.explicit)
    if misplaced:
        parser.error(misplaced)
    add_derived_options(parser, opt)
    if opt.root_path:
        for name in PATH_OPTIONS:
            value = getattr(opt, name)
            if value:
                setattr(opt, name, os.path.join(opt.root_path, value))
    opt.scales = crop_scales(parser, opt.initial_scale, opt.scale_step, opt.n_scales)
    if not -2 ** 62 <= opt.manual_seed < 2 ** 62:  # distributed runs add to it
        parser.error(f'argument --manual_seed: {opt.manual_seed} is out of range (|seed| < 2^62)')
    if recipe_name(opt) == '2020':
        add_release_2020_options(parser, opt)
    return opt


def add_release_2020_options(parser, opt):
    """The 2020 release's options in the terms main.py runs on: --n_classes is the trained
    model's, --n_pretrain_classes the pretrained one's (the CVPR 2018 code's --n_classes
    and --n_finetune_classes); --batchnorm_sync; --inference's batch size and top-k."""
    refused = release2020.refused_option(opt)
    if refused:
        parser.error(refused)
    if opt.pretrain_path:
        if not opt.n_pretrain_classes:
            parser.error('argument --n_pretrain_classes: --pretrain_path needs the classes of '
                         'the pretrained model (700 for the r3d*_K and r2p1d*_K checkpoints, '
                         '339 for _M, 1039 for _KM)')
        opt.n_finetune_classes, opt.n_classes = opt.n_classes, opt.n_pretrain_classes
    opt.sync_bn = opt.sync_bn or opt.batchnorm_sync
    opt.inference_batch_size = opt.inference_batch_size or opt.batch_size
    classes = opt.n_finetune_classes if opt.pretrain_path else opt.n_classes
    opt.output_topk = classes if opt.output_topk <= 0 else min(opt.output_topk, classes)


MIN_SCALE, MAX_SCALES = 0.01, 100


def crop_scales(parser, initial, step, n):
    """initial * step ** i for i below n; each must lie in [MIN_SCALE, 1] (a smaller crop
    would be a few pixels of the frame)."""
    if n > MAX_SCALES:
        parser.error(f'argument --n_scales: at most {MAX_SCALES}, got {n}')
    scales = []
    for i in range(n):
        try:
            scale = initial * step ** i
        except OverflowError:
            scale = float('inf')
        if not MIN_SCALE <= scale <= 1:
            parser.error(f'argument --initial_scale/--scale_step/--n_scales: crop scale {i + 1} '
                         f'of {n} is {scale:g}, outside [{MIN_SCALE:g}, 1]')
        scales.append(scale)
    return scales
