"""Trained models outside this program's module code: ONNX files, written by PyTorch's
torch.export-based ONNX exporter and applied with onnxruntime, and torch.export programs
(.pt2). Each carries in its metadata what applying it needs (the settings a checkpoint
records, the mode, the preprocessing, the class names), and is checked against the PyTorch
model before it is kept.

Why torch.export-based: it is the exporter PyTorch develops (the TorchScript-based one warns
that it is deprecated and will be removed), it records the batch size as a symbolic
dimension, and every family here exports through it unchanged.
"""
import json
import os
import warnings
from dataclasses import dataclass
from typing import Callable

import torch

from utils import UserError, one_line, write_atomically

FORMATS = {'.onnx': 'onnx', '.pt2': 'pt2'}
INPUT = 'clips'
OUTPUTS = {'score': 'scores', 'feature': 'features'}
# Scores before softmax and features may be large numbers: the agreement the export checks
# is 1e-4 of the largest value (at least 1e-4).
TOLERANCE = 1e-4
METADATA_FILE = 'metadata.json'  # a .pt2's metadata, beside its program


def format_of(path):
    """'onnx' or 'pt2' by a file's extension; None for anything else (a checkpoint)."""
    return FORMATS.get(os.path.splitext(path)[1].lower())


def example_clips(settings, batch=2):
    """A random batch of clips of the size a model's settings record."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch, clip_channels(settings), settings['sample_duration'],
                       settings['sample_size'], settings['sample_size'], generator=generator)


def clip_channels(settings):
    """Channels of the clips a model takes: 2 for the 2020 release's flow (u, v), else 3."""
    return 2 if settings.get('input_type') == 'flow' else 3


def export(model, path, fmt, metadata):
    """Write `model` (a CPU module in evaluation mode) to `path` as `fmt`, its metadata
    inside ({key: JSON-able value}; 'settings' and 'mode' needed), after checking the file
    against the module on a batch of 3 clips. The file appears only once checked (written
    beside it, then renamed); returns the largest difference found."""
    example = example_clips(metadata['settings'])
    write = export_onnx if fmt == 'onnx' else export_pt2
    with warnings.catch_warnings():  # the exporter's notes on how it traced the model
        warnings.simplefilter('ignore')
        program = write(model, example, metadata)
    folder, name = os.path.split(os.path.abspath(path))
    staging = os.path.join(folder, f'.{name}.checking')
    write_atomically(staging, program, 'exported model')
    try:
        difference = check(model, load(staging, fmt=fmt), metadata['mode'])
    except BaseException:
        os.remove(staging)
        raise
    os.replace(staging, path)
    return difference


def export_onnx(model, example, metadata):
    """A function that writes the ONNX file of `model` to an open file: the batch size
    free, the input `clips`, the output `scores` or `features`, the metadata as the model's
    metadata properties (JSON values)."""
    import onnx
    program = torch.onnx.export(
        model, (example,), None, input_names=[INPUT], output_names=[OUTPUTS[metadata['mode']]],
        dynamic_shapes=({0: torch.export.Dim('batch')},), dynamo=True, verbose=False)
    proto = program.model_proto
    onnx.helper.set_model_props(proto, {key: json.dumps(value) for key, value in
                                        metadata.items()})
    return lambda f: f.write(proto.SerializeToString())


def export_pt2(model, example, metadata):
    """A function that writes the torch.export program of `model` (the batch size free) to
    an open file, the metadata in it as metadata.json."""
    program = torch.export.export(model, (example,),
                                  dynamic_shapes=({0: torch.export.Dim('batch')},))
    return lambda f: torch.export.save(program, f,
                                       extra_files={METADATA_FILE: json.dumps(metadata)})


@dataclass
class ExportedModel:
    """A model file export.py wrote, ready to apply: `model(clips)` gives what the file
    outputs (scores or features) as a CPU float tensor."""
    path: str
    metadata: dict
    run: Callable

    @property
    def settings(self):
        return self.metadata['settings']

    @property
    def mode(self):
        return self.metadata['mode']

    def __call__(self, clips):
        return self.run(clips)

    def eval(self):  # as a module in evaluation mode: it is always in it
        return self


def load(path, use_cuda=False, fmt=None):
    """The model file at `path` (ONNX through onnxruntime, on CUDA where asked and
    onnxruntime has it; or a torch.export program; `fmt`: which, where the extension does
    not say); a file that is not one export.py wrote is a UserError saying what it is."""
    if not os.path.isfile(path):
        raise UserError(f'model file not found: {path}')
    fmt = fmt or format_of(path)
    loaded = load_onnx(path, use_cuda) if fmt == 'onnx' else load_pt2(path)
    for key in ('settings', 'mode'):
        if key not in loaded.metadata:
            raise UserError(f'{path} has no {key!r} in its metadata: it was not written by '
                            'export.py; export the checkpoint with export.py')
    if not isinstance(loaded.settings, dict) or not {'sample_size', 'sample_duration',
                                                     'n_classes'} <= set(loaded.settings):
        raise UserError(f'{path}: its settings are incomplete (a damaged file, or not one '
                        'export.py wrote)')
    return loaded


def load_onnx(path, use_cuda):
    import onnxruntime
    providers = ['CPUExecutionProvider']
    if use_cuda and 'CUDAExecutionProvider' in onnxruntime.get_available_providers():
        providers.insert(0, 'CUDAExecutionProvider')
    try:
        session = onnxruntime.InferenceSession(path, providers=providers)
        properties = session.get_modelmeta().custom_metadata_map
        metadata = {key: json.loads(value) for key, value in properties.items()}
    except Exception as e:  # onnxruntime's errors for files it cannot read are many
        raise UserError(f'{path} is not a readable ONNX model ({one_line(e, 200)})') from None
    name = session.get_inputs()[0].name

    def run(clips):
        array = clips.detach().to('cpu', torch.float32).contiguous().numpy()
        return torch.from_numpy(session.run(None, {name: array})[0])
    return ExportedModel(path, metadata, run)


def load_pt2(path):
    extra = {METADATA_FILE: ''}
    try:
        module = torch.export.load(path, extra_files=extra).module()
        metadata = json.loads(extra[METADATA_FILE] or '{}')
    except Exception as e:  # a damaged or foreign file fails in many ways
        raise UserError(f'{path} is not a readable torch.export program '
                        f'({one_line(e, 200)})') from None

    def run(clips):
        with torch.no_grad():
            return module(clips.to('cpu', torch.float32))
    return ExportedModel(path, metadata, run)


def check(model, exported, mode, batch=3):
    """The largest difference between `model` and the exported file on a random batch;
    more than TOLERANCE of the largest output is a UserError (the file is not kept)."""
    clips = example_clips(exported.settings, batch)
    with torch.no_grad():
        expected = model(clips).float()
    got = exported(clips)
    scale = max(1.0, float(expected.abs().max()))
    difference = float((got - expected).abs().max()) / scale
    if tuple(got.shape) != tuple(expected.shape) or not difference <= TOLERANCE:
        raise UserError(f'the exported model does not give the model\'s {OUTPUTS[mode]}: '
                        f'they differ by {difference:.2e} of the largest ({scale:.3g}), more '
                        f'than {TOLERANCE:g}; nothing was written')
    return difference
