"""Classify videos, or extract their features, with a trained model, straight from the files.

    python inference.py INPUT [INPUT ...] --output OUT --resume_path resnet-34-kinetics.pth \
        --model resnet --model_depth 34 --resnet_shortcut A [--mode score|feature]
    python inference.py INPUT [INPUT ...] --output OUT --resume_path model.onnx

INPUT: a video file, a folder (searched for video files and frame folders), or a text file
listing such paths. Each video is cut into clips as main.py's test pass cuts and prepares
them; `--mode score` writes OUT/results.json (the clip-averaged top classes of each video,
and each clip's top class), `--mode feature` writes OUT/NAME.npy (the pooled activations that
feed the classifier, one row per clip) and OUT/features.json. Videos already done are
skipped on a rerun; videos that cannot be read are named in OUT/failed.txt. A model file
export.py wrote (.onnx, run by onnxruntime; .pt2) is applied the same way, its settings read
from its metadata.
"""
import sys
from contextlib import nullcontext
from dataclasses import asdict

from torch import nn

import opts
import recipes
from argtypes import INFERENCE
from datasets.class_names import class_names_for
from datasets.inputs import find_sources
from distributed import evaluation_model, gather_to_main, leave_process_group, wrap_model
from inference_pass import Job, process
from inference_results import output_settings, read_part, write_summary
from models import exported
from models.checkpoint import head_name, load_checkpoint, load_model_file
from models.factory import build_model
from result_folder import held
from runtime import Runtime
from utils import UserError, counted, one_line


def parse_args(argv=None):
    return opts.parse(INFERENCE, argv)


def main(argv=None):
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    opt = parse_args(argv)
    try:
        code = run(opt, argv)
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


def run(opt, argv):
    """Check everything, then process the videos not yet done; returns the exit status.
    `argv`: the command line, parsed again under the recipe of a model that is another's."""
    sources = find_sources(opt.inputs)
    model_file = None
    if exported.format_of(opt.resume_path):
        model_file = exported.load(opt.resume_path, use_cuda=not opt.no_cuda)
        check_exported_fits(opt, model_file, recipes.recipe_of(opt))
        checkpoint = {'settings': model_file.settings}
    else:
        checkpoint = load_checkpoint(opt.resume_path)
    opt, recipe, taken = opts.for_checkpoint(INFERENCE, argv, opt, checkpoint, opt.resume_path)
    opt.stride = opt.stride or opt.sample_duration
    for line in recipe.notes(opt):
        print(line, file=sys.stderr)
    warnings = []  # said once the run is sure to start
    class_names = class_names_for(opt.n_classes, opt.class_names, opt.annotation_path,
                                  checkpoint.get('settings', {}).get('class_names'),
                                  warnings.append) if opt.mode == 'score' else None
    runtime = Runtime.from_options(opt)
    try:
        spec, clips = recipe.model_spec(opt), recipe.clip_settings(opt)
        model = model_file or load_model(spec, opt, checkpoint, runtime)
        if taken and runtime.is_main:
            print(taken, file=sys.stderr)
        job = Job(opt.output, opt.mode, opt.top_k, recipe.inference_transform(clips),
                  recipe.windows, opt.sample_duration, opt.stride, opt.fps, opt.batch_size,
                  opt.n_threads, flow=clips.n_channels == 2)  # (the release's u and v)
        settings = output_settings(opt.resume_path, class_names, opt.mode, recipe=recipe.name,
                                   model=asdict(spec), clips=asdict(clips), stride=opt.stride,
                                   fps=opt.fps, top_k=opt.top_k)
        # Rank 0 holds the output folder: a second run into it would mix parts and summaries.
        with held(opt.output, '--output') if runtime.is_main else nullcontext():
            for line in warnings if runtime.is_main else []:
                print(line, file=sys.stderr)
            return infer(sources, class_names, model, settings, job, runtime, opt.overwrite)
    finally:
        leave_process_group()


def infer(sources, class_names, model, settings, job, runtime, overwrite=False):
    """Process the videos not yet done and write the summary; returns the exit status."""
    todo = [i for i, source in enumerate(sources)
            if overwrite or read_part(job.output, source, settings) is None]
    if runtime.is_main and len(todo) < len(sources):
        print(f'{len(sources) - len(todo)} of {counted(len(sources), "video")} are already '
              f'done in {job.output} (--overwrite redoes them)')
    failed = process(sources, todo[runtime.rank::runtime.world_size], model, class_names,
                     settings, job, runtime)
    failed = sorted(f for part in gather_to_main(failed, runtime) or [] for f in part)
    if not runtime.is_main:
        return 0
    write_summary(sources, settings, failed, job.output)
    return 1 if failed else 0


def check_exported_fits(opt, model_file, recipe):
    """An exported model computes what it was exported for: its mode, network, classes and
    clip size are fixed (the preprocessing is not: its flags may change it, said as for a
    checkpoint)."""
    outputs = {'score': 'class scores', 'feature': 'features'}
    if opt.mode != model_file.mode:
        raise UserError(f'{opt.resume_path} outputs {outputs[model_file.mode]} (exported with '
                        f'--mode {model_file.mode}): run with --mode {model_file.mode}, or '
                        f'export the checkpoint again with --mode {opt.mode}')
    fixed = [o.dest for o in opts.options_of(INFERENCE, recipe) if o.recorded and
             (o.group == 'model' or o.dest in ('sample_size', 'sample_duration'))]
    for name in fixed + ['n_classes']:
        value = model_file.settings.get(name)
        if name in opt.explicit and value is not None and getattr(opt, name) != value:
            raise UserError(f'{opt.resume_path} is an exported model, made with --{name} '
                            f'{value}: --{name} {getattr(opt, name)} cannot change it; leave '
                            'the flag out')


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
