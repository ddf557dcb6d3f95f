"""Classify videos, or extract their features, with a trained model, straight from the files.

    python inference.py INPUT [INPUT ...] --output OUT --resume_path resnet-34-kinetics.pth \
        --model resnet --model_depth 34 --resnet_shortcut A [--mode score|feature]

INPUT: a video file, a folder (searched for video files and frame folders), or a text file
listing such paths. Each video is cut into clips as main.py's test pass cuts and prepares
them; `--mode score` writes OUT/results.json (the clip-averaged top classes of each video,
and each clip's top class), `--mode feature` writes OUT/NAME.npy (the pooled activations that
feed the classifier, one row per clip) and OUT/features.json. Videos already done are
skipped on a rerun; videos that cannot be read are named in OUT/failed.txt.
"""
import argparse
import sys
from contextlib import nullcontext
from dataclasses import asdict

from torch import nn

import opts
import recipes
from argtypes import INFERENCE
from datasets.annotations import load_annotation
from datasets.inputs import find_sources, read_list
from datasets.registry import layout_of_annotation
from distributed import evaluation_model, gather_to_main, leave_process_group, wrap_model
from inference_pass import Job, process
from inference_results import output_settings, read_part, write_summary
from models.checkpoint import differences_line, head_name, load_model_file, setting_differences
from models.factory import build_model
from result_folder import held
from runtime import Runtime
from utils import UserError, one_line


def parse_args(argv=None):
    return opts.parse(INFERENCE, argv)


def main(argv=None):
    opt = parse_args(argv)
    try:
        code = run(opt)
    except UserError as e:
        if opt.debug:
            raise
        print(f'error: {one_line(e)}', file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print('stopped (the videos finished so far are kept; run again to continue)',
              file=sys.stderr)
        code = 130
    sys.exit(code)


def run(opt):
    """Check everything, then process the videos not yet done; returns the exit status."""
    recipe = recipes.recipe_of(opt)
    sources = find_sources(opt.inputs)
    checkpoint = recipes.load_checkpoint_for(opt.resume_path, recipe, recipes.given(opt))
    opt = with_recorded_settings(opt, checkpoint, recipe)
    for line in recipe.notes(opt):
        print(line, file=sys.stderr)
    class_names = read_class_names(opt, checkpoint) if opt.mode == 'score' else None
    runtime = Runtime.from_options(opt)
    try:
        spec, clips = recipe.model_spec(opt), recipe.clip_settings(opt)
        model = load_model(spec, opt, checkpoint, runtime)
        job = Job(opt.output, opt.mode, opt.top_k, recipe.inference_transform(clips),
                  recipe.windows, opt.sample_duration, opt.stride, opt.fps, opt.batch_size,
                  opt.n_threads)
        settings = output_settings(opt.resume_path, class_names, opt.mode, recipe=recipe.name,
                                   model=asdict(spec), clips=asdict(clips), stride=opt.stride,
                                   fps=opt.fps, top_k=opt.top_k)
        # Rank 0 holds the output folder: a second run into it would mix parts and summaries.
        with held(opt.output, '--output') if runtime.is_main else nullcontext():
            return infer(sources, class_names, model, settings, job, runtime, opt.overwrite)
    finally:
        leave_process_group()


def infer(sources, class_names, model, settings, job, runtime, overwrite=False):
    """Process the videos not yet done and write the summary; returns the exit status."""
    todo = [i for i, source in enumerate(sources)
            if overwrite or read_part(job.output, source, settings) is None]
    if runtime.is_main and len(todo) < len(sources):
        print(f'{len(sources) - len(todo)} of {len(sources)} videos are already done in '
              f'{job.output} (--overwrite redoes them)')
    failed = process(sources, todo[runtime.rank::runtime.world_size], model, class_names,
                     settings, job, runtime)
    failed = sorted(f for part in gather_to_main(failed, runtime) or [] for f in part)
    if not runtime.is_main:
        return 0
    write_summary(sources, settings, failed, job.output)
    return 1 if failed else 0


def with_recorded_settings(opt, checkpoint, recipe):
    """The options, with what the checkpoint records of its model and clips (checkpoints
    main.py writes do) in place of the defaults: such a checkpoint needs no model or clip
    flags. A flag given with another value wins, and a line says so."""
    recorded = checkpoint.get('settings') or {}
    taken = {o.dest: o for o in opts.options_of(INFERENCE, recipe) if o.recorded}
    opt = argparse.Namespace(**vars(opt))
    for name, value in recorded.items():
        # (a value this recipe has no choice for, from a checkpoint of another recipe run
        # as asked, leaves the option at its default)
        choices = opts.choices_of(taken[name], recipe) if name in taken else None
        if name in taken and name not in opt.explicit and (not choices or value in choices):
            setattr(opt, name, value)
    if 'n_classes' in recorded and 'n_classes' not in opt.explicit:
        opt.n_classes = recorded['n_classes']
    given = dict(opts.recorded_options(opt, INFERENCE, recipe), n_classes=opt.n_classes)
    differences = setting_differences(checkpoint, given)
    if differences:
        print(f'warning: {differences_line(opt.resume_path, differences)}', file=sys.stderr)
    opts.derive(opt, recipe)
    opt.stride = opt.stride or opt.sample_duration
    return opt


def read_class_names(opt, checkpoint):
    """Class names from --class_names, --annotation_path, the checkpoint (main.py records
    its classes' names), Kinetics-400's for a 400-class model, or class indices."""
    recorded = (checkpoint.get('settings') or {}).get('class_names')
    if opt.class_names:
        names = read_list(opt.class_names, comments=False)  # a class may be named '#1'
    elif opt.annotation_path:
        names = annotation_class_names(opt.annotation_path)
    elif isinstance(recorded, list) and len(recorded) == opt.n_classes:
        names = [str(name) for name in recorded]
    elif opt.n_classes == 400:
        # The published models' order: Kinetics-400's classes sorted, as torchvision lists them.
        from torchvision.models.video import R3D_18_Weights
        names = list(R3D_18_Weights.KINETICS400_V1.meta['categories'])
    else:
        names = [str(i) for i in range(opt.n_classes)]
    source = opt.class_names or opt.annotation_path
    if len(names) != opt.n_classes:
        raise UserError(f'{source} names {len(names)} classes but the model has '
                        f'{opt.n_classes} (--n_classes)')
    return names


def annotation_class_names(path):
    """The class names of an annotation file of any registered layout, in the order main.py
    numbers them."""
    data = load_annotation(path)
    layout = layout_of_annotation(data)
    if layout is None:
        raise UserError(f'{path} has neither "labels" nor "taxonomy": no class names in it')
    return [str(name) for name in layout.class_names(data, path)]


def load_model(spec, opt, checkpoint, runtime):
    """The trained model, on the runtime's device, in evaluation mode; in feature mode its
    classifier is removed, so that it outputs the pooled features."""
    model = build_model(spec)
    load_model_file(model, opt.resume_path, spec.arch, lambda saved: f'set --n_classes {saved}',
                    checkpoint)
    if opt.mode == 'feature':
        setattr(model, head_name(model), nn.Identity())
    return evaluation_model(wrap_model(model, runtime)).eval()


if __name__ == '__main__':
    main()
