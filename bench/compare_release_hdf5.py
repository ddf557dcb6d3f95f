"""HDF5 and flow inputs against the 2020 release's own code, on real-looking footage:
generate_video_hdf5's frames against the release's generator's on the same videos; then,
with checkpoints trained here from HDF5 files (RGB and flow), which the release loads,
--inference and validation (val.json, val.log) of main.py --recipe 2020 --file_type hdf5
against the release's main.py, and main.py on HDF5 files against main.py on the frame
folders they were packed from.

    python bench/compare_release_hdf5.py --release PATH_TO_A_CHECKOUT_OF_ITS_MASTER

The release runs through bench/compare_release_2020.py's stand-ins (joblib, which its
generator imports, is stood in for by a sequential loop where it is not installed). Needs
ffmpeg and h5py. Prints one line per comparison; exits 1 if any differs by more than its
bound (1e-4 against the release, 1e-6 between HDF5 files and frame folders; frames equal).
"""
import argparse
import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.compare_release_2020 import (STANDINS, largest_difference, make_data, run,  # noqa: E402
                                        train_checkpoint)
from utils_scripts.hdf5_files import write_video_hdf5  # noqa: E402

# The release's generator, its joblib stood in for by a loop where joblib is missing.
GENERATOR = STANDINS + '''if not hasattr(sys.modules.get('joblib'), 'Parallel'):
    sys.modules['joblib'] = types.ModuleType('joblib')
    sys.modules['joblib'].Parallel = lambda **_: (lambda calls: [f(*a) for f, a in calls])
    sys.modules['joblib'].delayed = lambda f: (lambda *a: (f, a))
sys.argv = ['generate_video_hdf5.py'] + sys.argv[1:]
runpy.run_path('util_scripts/generate_video_hdf5.py', run_name='__main__')
'''
MAIN = STANDINS + '''sys.argv = ['main.py'] + sys.argv[1:]
runpy.run_path('main.py', run_name='__main__')
'''
SETTINGS = [
    ('r3d10', ['--model', 'resnet', '--model_depth', '10'], []),
    ('r2p1d10 per window', ['--model', 'resnet2p1d', '--model_depth', '10'],
     ['--inference_no_average', '--output_topk', '2']),
    ('r3d10 t_stride 2', ['--model', 'resnet', '--model_depth', '10'],
     ['--sample_t_stride', '2', '--inference_stride', '3', '--n_val_samples', '2']),
]


def pack(folder, flow=False):
    """The frame folders of make_data as HDF5 files (flow: u and v made from the frames'
    red and green, as grey JPEGs), with an annotation of the release's HDF5 segments [0,
    n)."""
    annotation = json.load(open(os.path.join(folder, 'annotation.json')))
    target = os.path.join(folder, 'flow' if flow else 'hdf5')
    for key, entry in annotation['database'].items():
        label, (_, end) = entry['annotations']['label'], entry['annotations']['segment']
        frames = [os.path.join(folder, 'jpg', label, key, f'image_{i:05d}.jpg')
                  for i in range(1, end)]
        os.makedirs(os.path.join(target, label), exist_ok=True)
        datasets = {'video': frames} if not flow else flow_frames(frames, folder, key)
        write_video_hdf5(os.path.join(target, label, f'{key}.hdf5'), datasets)
        entry['annotations']['segment'] = [0, end - 1]
    with open(os.path.join(folder, 'annotation_hdf5.json'), 'w') as f:
        json.dump(annotation, f)
    return target


def flow_frames(frames, folder, key):
    grey = os.path.join(folder, 'grey', key)
    os.makedirs(grey, exist_ok=True)
    u, v = [], []
    for k, frame in enumerate(frames):
        pixels = np.asarray(Image.open(frame).convert('RGB'))
        for channel, names in ((0, u), (1, v)):
            names.append(os.path.join(grey, f'{"uv"[channel]}_{k:05d}.jpg'))
            Image.fromarray(pixels[:, :, channel]).save(names[-1])
    return {'video_u': u, 'video_v': v}


def compare_generators(folder, release):
    """generate_video_hdf5 here and in the release on the same videos: whether every
    frame decodes to the same pixels, and how many of the files' bytes are equal."""
    import h5py
    videos = os.path.join(folder, 'videos', 'a')
    os.makedirs(videos)
    for key, size in (('wide', '320x180'), ('tall', '180x320')):
        subprocess.run(['ffmpeg', '-loglevel', 'error', '-f', 'lavfi', '-i',
                        f'testsrc2=size={size}:rate=25', '-t', '1.2', '-pix_fmt', 'yuv420p',
                        os.path.join(videos, f'{key}.avi')], check=True)
    ours, theirs = os.path.join(folder, 'gen_ours'), os.path.join(folder, 'gen_release')
    run([sys.executable, '-m', 'utils_scripts.generate_video_hdf5',
         os.path.dirname(videos), ours, 'ucf101', '--size', '112'], ROOT)
    os.makedirs(theirs)
    shim = os.path.join(folder, 'run_generator.py')
    with open(shim, 'w') as f:
        f.write(GENERATOR)
    run([sys.executable, shim, os.path.dirname(videos), theirs, 'ucf101', '--size', '112',
         '--n_jobs', '1'], release)
    same_pixels, same_bytes, n = True, 0, 0
    for key in ('wide', 'tall'):
        with h5py.File(os.path.join(ours, 'a', f'{key}.hdf5')) as a, \
                h5py.File(os.path.join(theirs, 'a', f'{key}.hdf5')) as b:
            same_pixels &= len(a['video']) == len(b['video']) > 0
            for x, y in zip(a['video'], b['video']):
                n += 1
                same_bytes += x.tobytes() == y.tobytes()
                same_pixels &= np.array_equal(*(np.asarray(Image.open(io.BytesIO(z.tobytes())))
                                                for z in (x, y)))
    return same_pixels, same_bytes, n


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--release', required=True, help='a checkout of the release (master)')
    parser.add_argument('--work', help='work folder (default: a temporary one)')
    args = parser.parse_args()
    folder = args.work or tempfile.mkdtemp(prefix='release_hdf5_')
    same, equal_bytes, n = compare_generators(folder, args.release)
    failed = not same
    print(f'generate_video_hdf5: {n} frames, {"all" if same else "NOT all"} decode to the '
          f'release generator\'s pixels ({equal_bytes} of {n} byte for byte)')
    make_data(folder)
    hdf5, flow = pack(folder), pack(folder, flow=True)
    shim = os.path.join(folder, 'run_release.py')
    with open(shim, 'w') as f:
        f.write(MAIN)
    base = ['--dataset', 'ucf101', '--n_classes', '3', '--sample_size', '32',
            '--sample_duration', '8', '--no_cuda', '--n_threads', '0']
    h5_annotation = os.path.join(folder, 'annotation_hdf5.json')
    frames = ['--video_path', os.path.join(folder, 'jpg'), '--annotation_path',
              os.path.join(folder, 'annotation.json'), *base]
    for name, model, flags in SETTINGS + [('r3d10 flow', SETTINGS[0][1], ['--input_type',
                                                                           'flow'])]:
        is_flow = '--input_type' in flags
        data = ['--video_path', flow if is_flow else hdf5, '--annotation_path', h5_annotation,
                '--file_type', 'hdf5', *base]
        checkpoint = train_checkpoint(folder, name.replace(' ', '_'), model, data + flags[:2]
                                      if is_flow else data)
        line = [*model, *flags, '--resume_path', checkpoint, '--no_train', '--n_epochs', '1',
                '--inference', '--batch_size', '6']
        out = {side: os.path.join(folder, side, name.replace(' ', '_'))
               for side in ('ours', 'release', 'frames')}
        os.makedirs(out['release'])
        run([sys.executable, os.path.join(ROOT, 'main.py'), '--recipe', '2020', *data, *line,
             '--result_path', out['ours']], ROOT)
        run([sys.executable, shim, *data, *line, '--result_path', out['release']],
            args.release)
        scores, loss, value = largest_difference(out['ours'], out['release'])
        failed |= scores > 1e-4 or loss > 1e-4
        text = (f'{name:20} against the release: scores differ by at most {scores:.1e}, '
                f'val.log by {loss:.1e} (relative; loss {float(value):.4g})')
        if not is_flow:
            run([sys.executable, os.path.join(ROOT, 'main.py'), '--recipe', '2020', *frames,
                 *line, '--result_path', out['frames']], ROOT)
            scores, loss, _ = largest_difference(out['ours'], out['frames'], shift=1)
            failed |= scores > 1e-6 or loss > 1e-6
            text += f'; against frame folders: {scores:.1e}, {loss:.1e}'
        print(text, flush=True)
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
