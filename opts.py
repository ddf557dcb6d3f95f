"""The command lines of main.py and inference.py: the options every recipe shares, one
parser built from them and the run's recipe's own (recipes/), and the values derived from
them before anything runs.

--recipe is read first, since it decides which options exist and their defaults. A flag
or choice of another recipe is then named in one line with the recipe it belongs to.
`parse_opts(argv)` is the reference's: main.py's options as an argparse Namespace.
"""
import argparse
import os
import sys

from argtypes import (APPLIED, BOTH, EXPORT, INFERENCE, MAIN, HelpFormatter, OneLineParser,
                      OptionError, non_negative_float, non_negative_int, option,
                      positive_float, positive_int)
from datasets.registry import DATASETS
from models.checkpoint import as_flag, differences_line, setting_differences
from models.inspection import network_options
from models.registry import MODEL_OPTIONS, supported_depths
from recipes import (DEFAULT, RECIPES, checkpoint_recipe, given, recipe_of,
                     say_if_another_recipe)
from train import OPTIMIZERS
from utils import UserError

PATH_OPTIONS = ('video_path', 'annotation_path', 'result_path', 'resume_path', 'pretrain_path')
PROGRAMS = {
    MAIN: ('main.py', 'Train, fine-tune and test 3D CNNs for action recognition.'),
    INFERENCE: ('inference.py', 'Classify videos or extract their features with a trained '
                                '3D CNN.'),
    EXPORT: ('export.py', 'Write a trained model as an ONNX file (or a torch.export program) '
                          'that carries what applying it needs.'),
}
GROUPS = {
    MAIN: ('data', 'clips', 'model', 'optimisation', 'devices and speed', 'run control'),
    INFERENCE: ('what to compute', 'clips', 'model', 'devices and speed', 'run control'),
    EXPORT: ('what to compute', 'clips', 'model', 'run control'),
}
TO_APPLY = (INFERENCE, EXPORT)  # the programs that apply a trained model

SHARED = (
    # -- main.py's data
    option('--root_path', group='data', default='',
           help='when set, joined in front of the relative path options'),
    option('--video_path', group='data', default='video_kinetics_jpg',
           help='folder of frame folders, or of video files in the same layout'),
    option('--annotation_path', group='data', default='kinetics.json',
           help='annotation JSON file'),
    option('--result_path', group='data', default='results',
           help='output folder (created if missing)'),
    option('--dataset', group='data', default='kinetics',
           help='layout of the annotation file and the video folder'),
    option('--input_format', group='data', default='auto',
           choices=('auto', 'frames', 'videos', 'hdf5'),
           help='what --video_path holds: frame folders (the reference\'s layout), video '
                'files in the same layout (<label>/<key>.mp4, v_<key>.mp4, any extension the '
                'decoder reads) or HDF5 files (<label>/<key>.hdf5, the 2020 release\'s); '
                'auto: found by looking'),
    option('--train_crop', group='data', default='corner', choices=('random', 'corner', 'center'),
           help='spatial crop in training'),
    option('--no_hflip', group='data', action='store_true',
           help='no horizontal flipping in training'),
    option('--fast_training_clips', group='data', action='store_true',
           help="only where the native clip core (native/, built by make install) is "
                "missing: resize training clips with PyTorch's uint8 kernel instead of PIL's, "
                "1 or 2 grey levels off the reference's clips in a small fraction of values. "
                'With the core, training clips are exact and faster, and this changes nothing'),
    option('--n_val_samples', group='data', default=3, type=positive_int,
           help='clips per video in validation'),
    # -- inference.py's inputs and outputs
    option('inputs', group='what to compute', programs=(INFERENCE,), nargs='+',
           metavar='INPUT', help='video files, folders of videos or frame folders, or text '
                                 'files listing them (one path per line, relative to the '
                                 'list\'s folder)'),
    option('--output', group='what to compute', programs=(INFERENCE,), required=True,
           help='output folder (created if missing)'),
    option('--resume_path', group='what to compute', programs=(INFERENCE,), required=True,
           help='the trained model: a checkpoint, or a file export.py wrote (.onnx, .pt2)'),
    option('resume_path', group='what to compute', programs=(EXPORT,), metavar='CHECKPOINT',
           help='the trained model\'s checkpoint'),
    option('output', group='what to compute', programs=(EXPORT,), metavar='OUTPUT',
           help='the file to write: OUTPUT.onnx (ONNX) or OUTPUT.pt2 (torch.export)'),
    option('--format', group='what to compute', programs=(EXPORT,), default=None,
           choices=('onnx', 'pt2'), help='default: as OUTPUT\'s extension says'),
    option('--mode', group='what to compute', programs=TO_APPLY, default='score',
           choices=('score', 'feature'),
           help='score: class scores; feature: the pooled features that feed the classifier'),
    option('--stride', group='what to compute', programs=(INFERENCE,), type=positive_int,
           help='frames between clip starts (default: --sample_duration)'),
    option('--fps', group='what to compute', programs=(INFERENCE,), type=positive_float,
           help='resample each video to this many frames per second first (default: its '
                'own rate)'),
    option('--top_k', group='what to compute', programs=(INFERENCE,), default=5,
           type=positive_int, help='classes per video in results.json'),
    option('--annotation_path', group='what to compute', programs=TO_APPLY, default='',
           help='class names from this annotation file (as main.py reads it)'),
    option('--class_names', group='what to compute', programs=TO_APPLY, default='',
           help='class names from this file, one a line (every non-empty line is a name)'),
    option('--overwrite', group='what to compute', programs=(INFERENCE,), action='store_true',
           help='redo videos already done'),
    option('--overwrite', group='what to compute', programs=(EXPORT,), action='store_true',
           help='replace OUTPUT if it exists'),
    # -- both programs' clips and model
    option('--sample_size', group='clips', programs=APPLIED, recorded=True, default=112,
           type=positive_int, help='clip height and width'),
    option('--sample_duration', group='clips', programs=APPLIED, recorded=True, default=16,
           type=positive_int, help='frames per clip'),
    option('--no_mean_norm', group='clips', programs=APPLIED, recorded=True, action='store_true',
           help='do not subtract the mean'),
    *MODEL_OPTIONS,
    option('--n_classes', group='model', programs=APPLIED, default=400, type=positive_int,
           help='classes of the model as built (of the pretrained model when fine-tuning)'),
    option('--pretrain_path', group='model', default='',
           help='pretrained checkpoint to fine-tune'),
    # -- main.py's optimisation
    option('--learning_rate', group='optimisation', default=0.1, type=positive_float,
           help='initial learning rate'),
    option('--momentum', group='optimisation', default=0.9, type=non_negative_float),
    option('--dampening', group='optimisation', default=0.9, type=non_negative_float,
           help='SGD dampening (0 with --nesterov)'),
    option('--weight_decay', group='optimisation', default=1e-3, type=non_negative_float),
    option('--nesterov', group='optimisation', action='store_true', help='Nesterov momentum'),
    option('--optimizer', group='optimisation', default='sgd', choices=tuple(OPTIMIZERS)),
    # -- devices and speed
    option('--no_cuda', group='devices and speed', programs=BOTH, action='store_true',
           help='run on the CPU'),
    option('--batch_size', group='devices and speed', programs=BOTH, default=128,
           type=positive_int, help='clips per batch; with --distributed, per process'),
    option('--n_threads', group='devices and speed', programs=BOTH, default=4,
           type=non_negative_int,
           help='data-loading worker processes (0: load in the main process)'),
    option('--distributed', group='devices and speed', programs=BOTH, action='store_true',
           help='one process per GPU under torchrun (DistributedDataParallel); --batch_size '
                'is then per process'),
    option('--amp', group='devices and speed', programs=BOTH, action='store_true',
           help='mixed precision: bfloat16 where supported (recent GPUs, CPUs with bfloat16 '
                'instructions), float16 with gradient scaling on older GPUs; float32 (said '
                'in one line) on CPUs without bfloat16'),
    option('--channels_last', group='devices and speed', programs=BOTH, action='store_true',
           help='channels-last 3-D memory format for model and inputs'),
    option('--sync_bn', group='devices and speed', action='store_true',
           help='with --distributed, batch-norm statistics over all processes (CUDA)'),
    # -- main.py's run control
    option('--n_epochs', group='run control', default=200, type=positive_int,
           help='last epoch (inclusive)'),
    option('--resume_path', group='run control', default='',
           help='checkpoint to continue from; auto: the latest state in --result_path '
                '(save_N.pth, interrupted.pth, latest.pth), or a fresh start without one'),
    option('--no_train', group='run control', action='store_true', help='skip training'),
    option('--no_val', group='run control', action='store_true', help='skip validation'),
    option('--checkpoint', group='run control', default=10, type=positive_int,
           help='save every this many epochs'),
    option('--checkpoint_every_steps', group='run control', default=0, type=non_negative_int,
           help='also write latest.pth every this many training batches, so that a run that '
                'dies resumes in the epoch (--resume_path auto); 0: never'),
    option('--max_bad_clips', group='run control', default=0.01, type=non_negative_float,
           help='damaged clips (missing or corrupt frames) an epoch may leave out before the '
                'run stops, resumably: a count if 1 or more, a fraction of the epoch\'s clips '
                'if less, none if 0'),
    option('--manual_seed', group='run control', default=1, type=int,
           help='seed of torch, random, numpy and the loader workers'),
    option('--tensorboard', group='run control', action='store_true',
           help='also write the epochs\' loss, accuracy and learning rate as TensorBoard '
                'curves into the result folder (needs tensorboard)'),
    option('--debug', group='run control', programs=APPLIED, action='store_true',
           help='show the traceback of errors instead of one line'),
    option('--recipe', group='run control', programs=APPLIED, default=None,
           help='the release whose pipeline and models a run reproduces (docs/recipes.md); '
                f'default: {DEFAULT}'),
)


def options_of(program, recipe):
    """The options `program` takes under `recipe`: the shared ones, a recipe's own option
    with a shared flag in place of the shared one."""
    own = [o for o in recipe.options if program in o.programs]
    replacing = {flag: o for o in own for flag in o.flags}
    merged = [next((replacing[f] for f in o.flags if f in replacing), o)
              for o in SHARED if program in o.programs]
    return merged + [o for o in own if o not in merged]


def choices_of(option, recipe):
    """The choices of --dataset, --model and --recipe, which registries decide."""
    if option.dest == 'dataset':
        return [name for name in DATASETS if recipe.layout(name) is not None]
    if option.dest == 'model':
        return list(recipe.families)
    if option.dest == 'recipe':
        return list(RECIPES)
    return option.kwargs.get('choices')


def build_parser(program, recipe, with_defaults=True):
    """The parser of `program` ('main' or 'inference') under `recipe`; without defaults
    (`with_defaults` False), it parses only what a command line gives."""
    prog, description = PROGRAMS[program]
    others = [name for name in RECIPES if name != recipe.name]
    epilog = ' '.join(f'--recipe {name} --help lists the options of {RECIPES[name].title}.'
                      for name in others) if recipe.name == DEFAULT else None
    parser = OneLineParser(prog=prog, description=description, epilog=epilog,
                           formatter_class=HelpFormatter)
    groups = {name: parser.add_argument_group(name) for name in GROUPS[program]}
    options = options_of(program, recipe)
    for o in options:
        choices = choices_of(o, recipe)
        o.add_to(groups[o.group], with_defaults, **({'choices': choices} if choices else {}))
    if with_defaults:
        dests = {o.dest for o in options}
        parser.set_defaults(**{k: v for k, v in recipe.defaults.items() if k in dests})
    return parser


def recipe_named_in(argv):
    """The recipe --recipe names in `argv` (the default where it is not given), before the
    whole line is parsed: it decides which options there are."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument('--recipe', default=None)
    known, _ = pre.parse_known_args(argv)
    return RECIPES.get(known.recipe, RECIPES[DEFAULT])


def parse(program, argv=None):
    """Parse `argv` (default: sys.argv) for `program`, check it and add the derived values.
    A usage error is one line and exit status 2."""
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    recipe = recipe_named_in(argv)
    parser = build_parser(program, recipe)
    parser.explain = lambda message: misplaced_line(argv, program, recipe)
    opt = parser.parse_args(argv)
    # When resuming, these win over the checkpoint's (say, a lower learning rate).
    opt.explicit = sorted(vars(build_parser(program, recipe, with_defaults=False)
                               .parse_args(argv)))
    try:
        error = recipe.check(opt)
        if error:
            raise OptionError(error)
        if program in TO_APPLY and opt.annotation_path and opt.class_names:
            raise OptionError('argument --class_names: give --annotation_path or --class_names,'
                              ' not both')
        if opt.model_depth not in supported_depths(opt.model):
            raise OptionError(f'argument --model_depth: {opt.model} has no depth '
                              f'{opt.model_depth} (choose from '
                              f'{", ".join(map(str, supported_depths(opt.model)))})')
        if not -2 ** 62 <= getattr(opt, 'manual_seed', 0) < 2 ** 62:  # distributed runs add to it
            raise OptionError(f'argument --manual_seed: {opt.manual_seed} is out of range '
                              '(|seed| < 2^62)')
        derive(opt, recipe)
    except OptionError as e:
        parser.explain = None
        parser.error(str(e))
    if getattr(opt, 'root_path', ''):
        for name in PATH_OPTIONS:
            if getattr(opt, name) and not (name == 'resume_path' and opt.resume_path == 'auto'):
                setattr(opt, name, os.path.join(opt.root_path, getattr(opt, name)))
    return opt


def parse_opts(argv=None):
    """main.py's options, as the reference's parse_opts returned them."""
    return parse(MAIN, argv)


def derive(opt, recipe):
    """Add what both programs derive from the options and record with them (opts.json):
    `arch`, `mean` and `std` (of --mean_dataset, as the recipe scales values) and the
    recipe's own (crop scales). Raises OptionError for values that cannot run."""
    opt.arch = f'{opt.model}-{opt.model_depth}'
    opt.mean, opt.std = (list(values) for values in recipe.mean_std(opt))
    vars(opt).update(recipe.derived_options(opt))
    return opt


def recorded_options(opt, program, recipe, group=None):
    """{name: value} of the options checkpoints record (of `group` only, if given)."""
    return {o.dest: getattr(opt, o.dest) for o in options_of(program, recipe)
            if o.recorded and group in (None, o.group)}


def for_checkpoint(program, argv, opt, checkpoint, path, clips=True, classes=True,
                   quiet=False):
    """The options and the recipe of a run that applies, resumes or fine-tunes from
    `checkpoint` (at `path`): under the recipe it records or its layout shows where --recipe
    is not given (the line parsed again under it), with what it records or its weights show
    of its model in place of the defaults (and of its clips and classes where `clips`,
    `classes`). Returns (the options, the recipe, the line that says what was taken or
    None), the line for the command to say once the model is built from it."""
    origin = checkpoint_recipe(checkpoint)
    adopted = origin is not None and not given(opt) and origin is not recipe_of(opt)
    if adopted:
        clash = misplaced_line(argv, program, origin)
        if clash:
            raise UserError(f'{path} is a model of {origin.title} (--recipe {origin.name}), '
                            f'whose pipeline it needs, but {clash.removeprefix("argument ")}')
        opt = parse(program, argv + ['--recipe', origin.name])
    recipe = recipe_of(opt)
    say_if_another_recipe(checkpoint, path, recipe, quiet)
    opt, taken = take_from_checkpoint(opt, checkpoint, path, program, recipe, clips, classes,
                                      quiet)
    if adopted:
        taken.insert(0, ('recipe', recipe.name))
    why = 'as it records' if 'settings' in checkpoint else 'as its layout, arch and weights show'
    line = (f'took {" ".join(as_flag(n, v) for n, v in taken)} from {path} ({why}); a flag '
            'given wins') if taken else None
    return opt, recipe, line


def take_from_checkpoint(opt, checkpoint, path, program, recipe, clips=True, classes=True,
                         quiet=False):
    """The options, with what a checkpoint (or an exported model) records of its model and
    clips, or its weights show of its network (models.inspection), in place of the
    defaults: such a file needs no flags that repeat it. A flag given with another value
    wins (a line says so for what it records); the derived values follow. Returns (the
    options, [(name, value)] of what was taken)."""
    recorded = checkpoint.get('settings') or {}
    told = dict(network_options(checkpoint) if 'state_dict' in checkpoint else {}, **recorded)
    takes = {o.dest: o for o in options_of(program, recipe)
             if o.recorded and (clips or o.group != 'clips')}
    opt = argparse.Namespace(**vars(opt))
    taken = []
    for name, value in told.items():
        if name in opt.explicit or not (name in takes or classes and name == 'n_classes'):
            continue
        # (a value this recipe has no choice for, from a file of another recipe run as
        # asked, leaves the option at its default)
        choices = choices_of(takes[name], recipe) if name in takes else None
        if (not choices or value in choices) and getattr(opt, name) != value:
            setattr(opt, name, value)
            taken.append((name, value))
    given_values = recorded_options(opt, program, recipe)
    if classes:
        given_values['n_classes'] = opt.n_classes
    differences = setting_differences(checkpoint, given_values)
    if differences and not quiet:
        print(f'warning: {differences_line(path, differences)}', file=sys.stderr)
    return derive(opt, recipe), taken


def misplaced_line(argv, program, recipe):
    """A one-line error for the first flag of `argv` (or --model, --dataset or other
    choice) that belongs to another recipe than the run's, or None."""
    implied = '' if any(a == '--recipe' or a.startswith('--recipe=') for a in argv) \
        else ' (the default)'
    mine = {flag: o for o in options_of(program, recipe) for flag in o.flags}
    for other in RECIPES.values():
        if other is recipe:
            continue
        theirs = {flag: o for o in options_of(program, other) for flag in o.flags}
        for flag, value in given_flags(argv):
            if flag in theirs and flag not in mine:
                return (f'argument {flag}: a flag of --recipe {other.name}, and this run is '
                        f'--recipe {recipe.name}{implied}: add --recipe {other.name}, or leave '
                        'it out')
            if flag in theirs and value is not None and \
                    value not in (choices_of(mine[flag], recipe) or [value]) and \
                    value in (choices_of(theirs[flag], other) or []):
                return (f'argument {flag}: {value} is a choice of --recipe {other.name}, and '
                        f'this run is --recipe {recipe.name}{implied}: add --recipe '
                        f'{other.name}')
    return None


def given_flags(argv):
    """(flag, the value after it or None) for each --flag of a command line."""
    for k, token in enumerate(argv):
        if token.startswith('--'):
            flag, _, value = token.partition('=')
            if not value and k + 1 < len(argv) and not argv[k + 1].startswith('-'):
                value = argv[k + 1]
            yield flag, value or None
