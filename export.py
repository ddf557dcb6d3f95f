"""Write a trained model as a file that runs without this program: ONNX (onnxruntime,
TensorRT, ...) or a torch.export program (.pt2), with what applying it needs in it.

    python export.py results/save_200.pth model.onnx
    python export.py resnet-34-kinetics.pth r34.onnx
    python export.py r3d18_K_200ep.pth r3d18.onnx --class_names kinetics700.txt

A checkpoint main.py wrote records its model, clips and recipe; a published one tells its
release (its layout), family, depth and classes, and flags main.py takes say the rest. The
file's input is clips [batch, 3, frames, height, width] (float32, any batch size), its
output the class scores before softmax (or, with --mode feature, the pooled features). Its
metadata holds the recipe, the settings a checkpoint records, the preprocessing (resize,
crop, value scale, mean, std, clip length and windows), the class names and this program's
version; inference.py applies such a file as it applies the checkpoint (README: "Deploying a
trained model"). Before the file is kept it is run on a random batch and checked against the
PyTorch model (1e-4 of the largest output).
"""
import os
import sys

from torch import nn

import opts
from argtypes import EXPORT
from datasets.class_names import class_names_for
from models import exported
from models.checkpoint import head_name, load_checkpoint, load_model_file, recorded_settings
from models.factory import build_model
from utils import VERSION, UserError, one_line


def main(argv=None):
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    opt = opts.parse(EXPORT, argv)
    try:
        run(opt, argv)
    except UserError as e:
        if opt.debug:
            raise
        print(f'error: {one_line(e)}', file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print('stopped: nothing was written', file=sys.stderr)
        sys.exit(130)


def run(opt, argv):
    """Check the output path and the checkpoint, take what it tells of its model (and its
    recipe, parsing `argv` again under it), build the model, write and check the file."""
    fmt = output_format(opt)  # before a large checkpoint is read
    checkpoint = load_checkpoint(opt.resume_path)
    opt, recipe, taken = opts.for_checkpoint(EXPORT, argv, opt, checkpoint, opt.resume_path)
    for line in recipe.notes(opt):
        print(line, file=sys.stderr)
    recorded = (checkpoint.get('settings') or {}).get('class_names')
    warnings = []  # said once the file is written
    class_names = class_names_for(opt.n_classes, opt.class_names, opt.annotation_path, recorded,
                                  warnings.append)
    spec, clips = recipe.model_spec(opt), recipe.clip_settings(opt)
    model = build_model(spec)
    load_model_file(model, opt.resume_path, spec.arch, lambda saved: f'set --n_classes {saved}',
                    checkpoint)
    if opt.mode == 'feature':
        setattr(model, head_name(model), nn.Identity())
    settings = recorded_settings(opts.recorded_options(opt, EXPORT, recipe), opt.n_classes,
                                 class_names, recipe.name)
    metadata = {'settings': settings, 'mode': opt.mode, 'recipe': recipe.name,
                'preprocessing': recipe.preprocessing(clips), 'class_names': class_names,
                'exported_by': f'3D ResNets export.py {VERSION}'}
    difference = exported.export(model.eval(), opt.output, fmt, metadata)
    for line in [taken] * bool(taken) + warnings:
        print(line, file=sys.stderr)
    print(f'wrote {opt.output} ({spec.arch}, {opt.mode} mode, {fmt}; checked against the '
          f'PyTorch model: largest difference {difference:.1e} of the largest output)')


def output_format(opt):
    """The format of --format or of OUTPUT's extension; an OUTPUT that exists is kept unless
    --overwrite, and its folder must exist."""
    fmt = opt.format or exported.format_of(opt.output)
    if fmt is None:
        raise UserError(f'{opt.output}: give OUTPUT a .onnx or .pt2 extension, or --format')
    if os.path.isdir(opt.output):
        raise UserError(f'{opt.output} is a folder: give the file to write')
    if os.path.exists(opt.output) and not opt.overwrite:
        raise UserError(f'{opt.output} exists: add --overwrite to replace it')
    folder = os.path.dirname(os.path.abspath(opt.output))
    if not os.path.isdir(folder):
        raise UserError(f'the folder of {opt.output} does not exist: create it first')
    return fmt


if __name__ == '__main__':
    main()
