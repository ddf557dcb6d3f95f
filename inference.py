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
import hashlib
import json
import os
import sys
import time
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

import opts
from datasets.annotations import load_annotation
from datasets.clip_stream import ClipStream, Source, collate
from datasets.names import VIDEO_EXTENSIONS, frame_path
from datasets.registry import layout_of_annotation
from distributed import evaluation_model, gather_to_main, leave_process_group, wrap_model
from engine import Batches
from loaders import seed_worker
from models.checkpoint import (RECORDED_OPTIONS, differences_line, head_name, load_checkpoint,
                               load_model_file, setting_differences)
from models.factory import build_model
from models.registry import ModelSpec
from recipes import DEFAULT, family_note, misplaced_flag, recipe_name, recipe_of, release2020
from result_folder import held
from runtime import Runtime
from utils import UserError, one_line, printable, write_atomically, write_text_atomically

LIST_EXTENSIONS = ('.txt', '.lst', '.list')
PARTS = '.parts'  # OUT/.parts/NAME.json: what was found for one video (the resumable unit)


def build_parser():
    p = opts.OneLineParser(
        prog='inference.py', formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description='Classify videos or extract their features with a trained 3D CNN.')
    p.add_argument('inputs', nargs='+', metavar='INPUT',
                   help='video files, folders of videos or frame folders, or text files '
                        'listing them (one path per line, relative to the list\'s folder)')
    g = p.add_argument_group('what to compute')
    g.add_argument('--output', required=True, help='output folder (created if missing)')
    g.add_argument('--resume_path', required=True, help='the trained model\'s checkpoint')
    g.add_argument('--mode', default='score', choices=('score', 'feature'),
                   help='score: top classes per video and clip; feature: pooled features '
                        'per clip')
    g.add_argument('--stride', type=opts.positive_int,
                   help='frames between clip starts (default: --sample_duration)')
    g.add_argument('--fps', type=opts.positive_float,
                   help='resample each video to this many frames per second first '
                        '(default: its own rate)')
    g.add_argument('--top_k', default=5, type=opts.positive_int,
                   help='classes per video in results.json')
    g.add_argument('--annotation_path', default='',
                   help='class names from this annotation file (as main.py reads it)')
    g.add_argument('--class_names', default='',
                   help='class names from this file, one a line (every non-empty line is a '
                        'name)')
    g.add_argument('--overwrite', action='store_true', help='redo videos already done')
    g.add_argument('--debug', action='store_true',
                   help='show the traceback of errors instead of one line')
    opts.add_recipe_option(g)
    opts.add_clip_options(p.add_argument_group('clips (as main.py)'))
    opts.add_model_options(p.add_argument_group('model (as main.py)'))
    release2020.add_options(p.add_argument_group('the 2020 release\'s (--recipe 2020)'))
    opts.add_compute_options(p.add_argument_group('devices and speed (as main.py)'))
    return p


def parse_args(argv=None):
    parser = build_parser()
    opt = parser.parse_args(argv)
    opt.explicit = opts.explicit_options(parser, argv)
    misplaced = misplaced_flag(opt, opt.explicit)
    if misplaced:
        parser.error(misplaced)
    opts.add_derived_options(parser, opt)
    if opt.annotation_path and opt.class_names:
        parser.error('argument --class_names: give --annotation_path or --class_names, '
                     'not both')
    return opt


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
    sources = find_sources(opt.inputs)
    checkpoint = load_checkpoint(opt.resume_path, opt.recipe)
    if family_note(opt):
        print(family_note(opt), file=sys.stderr)
    opt = with_recorded_settings(opt, checkpoint)
    class_names = read_class_names(opt, checkpoint) if opt.mode == 'score' else None
    runtime = Runtime.from_options(opt)
    try:
        model = load_model(opt, checkpoint, runtime)
        # Rank 0 holds the output folder: a second run into it would mix parts and summaries.
        with held(opt.output, '--output') if runtime.is_main else nullcontext():
            return infer(sources, class_names, model, opt, runtime)
    finally:
        leave_process_group()


def infer(sources, class_names, model, opt, runtime):
    """Process the videos not yet done and write the summary; returns the exit status."""
    settings = output_settings(opt, class_names)
    todo = [i for i, source in enumerate(sources)
            if opt.overwrite or read_part(opt.output, source, settings) is None]
    if runtime.is_main and len(todo) < len(sources):
        print(f'{len(sources) - len(todo)} of {len(sources)} videos are already done in '
              f'{opt.output} (--overwrite redoes them)')
    failed = process(sources, todo[runtime.rank::runtime.world_size], model, class_names,
                     settings, opt, runtime)
    failed = sorted(f for part in gather_to_main(failed, runtime) or [] for f in part)
    if not runtime.is_main:
        return 0
    write_summary(sources, settings, failed, opt)
    return 1 if failed else 0


# -- inputs ---------------------------------------------------------------------------------

def find_sources(inputs):
    """Every video the inputs name, with its output name; a missing input, an empty search
    or two videos of the same name is a UserError."""
    sources = []
    for given in inputs:
        sources.extend(sources_of(given, os.getcwd(), ()))
    if not sources:
        raise UserError(f'no video files or frame folders found in {", ".join(inputs)}')
    seen = {}
    for source in sources:
        if source.name in seen and seen[source.name] != source.path:
            raise UserError(f'{seen[source.name]} and {source.path} would both be written as '
                            f'{source.name!r}: give them in separate runs or rename one')
        seen[source.name] = source.path
    return list({source.name: source for source in sources}.values())


def sources_of(given, base, lists):
    """The videos `given` names, relative to `base`; `lists`: the list files being read
    (one listing itself, or a cycle of lists, is an error)."""
    if given == '-' or '://' in given:
        raise UserError(f'input {given}: inference.py reads files and folders, not standard '
                        'input or URLs: save the video to a file first')
    path = os.path.join(base, os.path.expanduser(given))
    if os.path.isdir(path):
        if is_frame_folder(path):
            return [Source(os.path.basename(os.path.normpath(path)), path, True)]
        return search_folder(path)
    if not os.path.isfile(path):
        raise UserError(f'input not found: {given}' if not os.path.exists(path) else
                        f'input {given} is not a file or folder (a pipe or a device?): '
                        'save the video to a file first')
    if path.lower().endswith(LIST_EXTENSIONS):
        real = os.path.realpath(path)
        if real in lists:
            raise UserError(f'the list {given} lists itself (through {len(lists)} list'
                            f'{"s" if len(lists) > 1 else ""}): remove that line')
        return [s for entry in read_list(path) for s in
                sources_of(entry, os.path.dirname(path), lists + (real,))]
    return [Source(os.path.splitext(os.path.basename(path))[0], path, False)]


def is_frame_folder(path):
    return os.path.isfile(frame_path(path, 1))


def search_folder(root):
    """Video files and frame folders below `root`, named by their path relative to it
    without extension; sorted."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for sub in list(subfolders):
            if is_frame_folder(os.path.join(folder, sub)):
                subfolders.remove(sub)  # its frames are one video
                path = os.path.join(folder, sub)
                found.append(Source(os.path.relpath(path, root), path, True))
        for name in sorted(files):
            if name.lower().endswith(VIDEO_EXTENSIONS):
                path = os.path.join(folder, name)
                found.append(Source(os.path.splitext(os.path.relpath(path, root))[0], path,
                                    False))
    return sorted(found)


def read_list(path, comments=True):
    """The non-empty lines of a text file, stripped (a UTF-8 byte-order mark dropped);
    `comments`: lines starting with # (indented or not) are left out."""
    try:
        with open(path, encoding='utf-8-sig') as f:
            lines = [line.strip() for line in f]
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f'cannot read the list {path}: {one_line(e)}') from None
    return [line for line in lines if line and not (comments and line.startswith('#'))]


def with_recorded_settings(opt, checkpoint):
    """The options, with what the checkpoint records of its model and clips (checkpoints
    main.py writes do) in place of the defaults: such a checkpoint needs no model or clip
    flags. A flag given with another value wins, and a line says so."""
    recorded = checkpoint.get('settings') or {}
    names = RECORDED_OPTIONS + ('n_classes',)
    opt = argparse.Namespace(**vars(opt))
    for name in names:
        if name in recorded and name not in opt.explicit:
            setattr(opt, name, recorded[name])
    differences = setting_differences(checkpoint, opt, names)
    if differences:
        print(f'warning: {differences_line(opt.resume_path, differences)}', file=sys.stderr)
    opts.add_derived_options(build_parser(), opt)
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


# -- model and outputs ------------------------------------------------------------------------

def load_model(opt, checkpoint, runtime):
    """The trained model, on the runtime's device, in evaluation mode; in feature mode its
    classifier is removed, so that it outputs the pooled features."""
    model = build_model(ModelSpec.from_options(opt, recipe_of(opt).model_options(opt)))
    load_model_file(model, opt.resume_path, opt.arch, lambda saved: f'set --n_classes {saved}',
                    checkpoint)
    if opt.mode == 'feature':
        setattr(model, head_name(model), nn.Identity())
    return evaluation_model(wrap_model(model, runtime)).eval()


def output_settings(opt, class_names):
    """What decides a video's outputs: a video done with other settings (or, scored, with
    other class names) is done again."""
    with open(opt.resume_path, 'rb') as f:
        checkpoint = hashlib.sha1(f.read(1 << 20)).hexdigest()  # its first MiB
    keys = ('mode', 'arch', 'n_classes', 'sample_size', 'sample_duration', 'stride', 'fps',
            'norm_value', 'mean', 'std', 'no_mean_norm', 'std_norm', 'scale_in_test',
            'crop_position_in_test', 'top_k')
    names = hashlib.sha1('\n'.join(class_names or []).encode('utf-8', 'surrogateescape'))
    settings = dict({key: getattr(opt, key) for key in keys}, checkpoint=checkpoint,
                    class_names=names.hexdigest())
    if recipe_name(opt) != DEFAULT:  # a part done under another recipe is done again
        keys = ('recipe', 'value_scale', 'inference_crop', 'no_std_norm', 'conv1_t_stride',
                'no_max_pool', 'resnet_widen_factor')
        settings.update({key: getattr(opt, key) for key in keys})
    return settings


def parts_done(output, settings):
    """{video name: part} of every video done in `output` with these settings, by this run
    or earlier ones (whatever inputs they were given)."""
    folder = os.path.join(output, PARTS)
    done = {}
    for parent, _, files in os.walk(folder):
        for file in sorted(files):
            if file.endswith('.json'):
                name = os.path.relpath(os.path.join(parent, file), folder)[:-len('.json')]
                part = read_part(output, Source(name, '', False), settings)
                if part is not None:
                    done[name] = part
    return dict(sorted(done.items()))


def part_path(output, source):
    return os.path.join(output, PARTS, source.name + '.json')


def read_part(output, source, settings):
    """The stored result of a video done with these settings, else None."""
    try:
        with open(part_path(output, source), encoding='utf-8') as f:
            part = json.load(f)
    except (OSError, ValueError):
        return None
    if part.get('settings') != json.loads(json.dumps(settings)):
        return None
    if settings['mode'] == 'feature' and not os.path.isfile(
            os.path.join(output, part.get('file', ''))):
        return None
    return part


def write_part(output, source, part, settings):
    path = part_path(output, source)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_text_atomically(path, json.dumps(dict(part, settings=settings)))


def save_features(output, source, rows):
    """OUT/NAME.npy, written atomically."""
    file = source.name + '.npy'
    path = os.path.join(output, file)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomically(path, lambda f: np.save(f, rows), 'features')
    return file


# -- the pass ---------------------------------------------------------------------------------

def process(sources, todo, model, class_names, settings, opt, runtime):
    """Run the model over every clip of the videos `todo` (indices into sources), writing
    each video's outputs as soon as its last clip is scored; returns the failed paths."""
    recipe = recipe_of(opt)
    stream = ClipStream(sources, recipe.inference_transform(opt), opt.sample_duration,
                        opt.stride, opt.fps, todo, windows=recipe.windows)
    loader = DataLoader(stream, batch_size=opt.batch_size, num_workers=opt.n_threads,
                        collate_fn=collate, pin_memory=runtime.uses_cuda,
                        worker_init_fn=seed_worker)
    progress = VideoProgress(len(todo), runtime.is_main)
    rows = {}  # video -> {clip index: output row}
    failed = []
    with torch.no_grad():
        with Batches(loader, 'inference', None, runtime, check_stop=False,
                     progress=progress) as batches:
            for _, (clips, items, errors) in batches:
                if clips is not None:
                    with runtime.autocast():
                        outputs = model(runtime.to_device(clips)).float()
                    if opt.mode == 'score':
                        outputs = F.softmax(outputs, dim=1)
                    for item, output in zip(items, outputs.cpu()):
                        rows.setdefault(item.video, {})[item.index] = (item, output)
                        if len(rows[item.video]) == item.n_clips:
                            source = sources[item.video]
                            part = finish_video(source, rows.pop(item.video), class_names, opt)
                            write_part(opt.output, source, part, settings)
                            progress.done(source, part, item.n_clips)
                for error in errors:
                    rows.pop(error.video, None)
                    failed.append(sources[error.video].path)
                    progress.failed(error.error)
    return failed


def finish_video(source, rows, class_names, opt):
    """A video's part of the outputs from its clips' rows (in clip order)."""
    ordered = [rows[k] for k in range(len(rows))]
    segments = [[item.first, item.last] for item, _ in ordered]
    outputs = torch.stack([output for _, output in ordered])
    if opt.mode == 'feature':
        file = save_features(opt.output, source, outputs.numpy().astype(np.float32))
        return {'file': file, 'segments': segments, 'fps': ordered[0][0].fps}
    total = 0  # summed in clip order, as main.py's test pass sums
    for output in outputs:
        total = total + output
    mean = total / len(outputs)
    values, indices = mean.topk(min(opt.top_k, mean.numel()))
    top = [{'label': class_names[j], 'score': float(v)}
           for v, j in zip(values.tolist(), indices.tolist())]
    best_scores, best = outputs.max(1)
    clips = [{'segment': segment, 'label': class_names[j], 'score': float(v)}
             for segment, v, j in zip(segments, best_scores.tolist(), best.tolist())]
    return {'results': top, 'clips': clips}


def write_summary(sources, settings, failed, opt):
    """results.json or features.json over every video done (this run's and earlier ones'),
    and failed.txt listing the videos that could not be read (removed when none)."""
    done = parts_done(opt.output, settings)
    if opt.mode == 'score':
        summary = {'results': {name: part['results'] for name, part in done.items()},
                   'clips': {name: part['clips'] for name, part in done.items()}}
        path = os.path.join(opt.output, 'results.json')
    else:
        summary = {name: {key: part[key] for key in ('file', 'segments', 'fps')}
                   for name, part in done.items()}
        path = os.path.join(opt.output, 'features.json')
    write_text_atomically(path, json.dumps(summary))
    failed_path = os.path.join(opt.output, 'failed.txt')
    if failed:
        # One path a line, as the file system names it (bytes that are not UTF-8 kept); a
        # line break inside a name written as \n.
        lines = ''.join(os.path.abspath(p).replace('\n', '\\n') + '\n' for p in failed)
        write_atomically(failed_path, lambda f: f.write(lines.encode('utf-8', 'surrogateescape')))
        print(f'{len(failed)} of {len(sources)} videos could not be read: listed in '
              f'{failed_path}', file=sys.stderr)
    elif os.path.exists(failed_path):
        os.remove(failed_path)
    print(f'wrote {path} ({len(done)} videos)')


class VideoProgress:
    """A bar over videos with clips/s on a terminal, a line per video otherwise."""

    def __init__(self, n_videos, enabled):
        self.enabled, self.n_videos, self.count, self.clips = enabled, n_videos, 0, 0
        self.start = time.perf_counter()
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=n_videos, unit='video', dynamic_ncols=True)

    def done(self, source, part, n_clips):
        self.count += 1
        self.clips += n_clips
        if not self.enabled:
            return
        rate = self.clips / max(time.perf_counter() - self.start, 1e-9)
        if self.bar is not None:
            self.bar.set_postfix_str(f'{rate:.1f} clips/s', refresh=False)
            self.bar.update(1)
            return
        what = (f'{part["results"][0]["label"]} ({part["results"][0]["score"]:.3f})'
                if 'results' in part else f'{n_clips} feature rows')
        print(f'[{self.count}/{self.n_videos}] {printable(source.name)}: {what}  '
              f'[{n_clips} clips, {rate:.1f} clips/s]', flush=True)

    def update(self, *batch_timings):
        """Called after each batch: the lines come per video instead."""

    def failed(self, message):
        """Said by every rank: the line names the video."""
        self.count += 1
        if self.bar is None:
            print(f'failed: {printable(message)}', file=sys.stderr, flush=True)
            return
        self.bar.write(f'failed: {printable(message)}', file=sys.stderr)
        self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


if __name__ == '__main__':
    main()
