"""main.py --recipe 2020 against the 2020 release's own main.py, on the same frames of
real-looking footage and the same checkpoints: validation loss and accuracy (val.log) and
--inference's results (val.json), for several models and settings.

    python bench/compare_release_2020.py --release PATH_TO_A_CHECKOUT_OF_ITS_MASTER

The release does not run on today's stack unaided: it is run through a shim (written into
the work folder, not into its checkout) that puts back torchvision's removed `Scale` (its
Resize) and stands in for sklearn, which it imports but does not use here. Needs
ffmpeg. Prints one line per setting; exits 1 if any result differs by more than 1e-4.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# What the release needs to run here: its checkout first on the path, torchvision's removed
# Scale put back, stand-ins for sklearn (imported, not used here), and for h5py and joblib
# where they are not installed (the HDF5 comparison needs h5py).
STANDINS = '''import importlib.util, os, runpy, sys, types
sys.path.insert(0, os.getcwd())
import torchvision.transforms as T
import torchvision.transforms.transforms as TT
T.Scale = TT.Scale = T.Resize
for name in ('sklearn', 'sklearn.metrics', 'h5py', 'joblib'):
    if name.startswith('sklearn') or importlib.util.find_spec(name) is None:
        sys.modules[name] = types.ModuleType(name)
sys.modules['sklearn.metrics'].precision_recall_fscore_support = None
'''
SHIM = STANDINS + '''sys.argv = ['main.py'] + sys.argv[1:]
runpy.run_path('main.py', run_name='__main__')
'''
# (name, model flags, other flags): each run with --no_train --n_epochs 1 --inference.
SETTINGS = [
    ('r3d10', ['--model', 'resnet', '--model_depth', '10'], []),
    ('r2p1d10', ['--model', 'resnet2p1d', '--model_depth', '10'], []),
    ('r3d10 per window', ['--model', 'resnet', '--model_depth', '10'],
     ['--inference_no_average', '--output_topk', '2']),
    ('r2p1d10 nocrop', ['--model', 'resnet2p1d', '--model_depth', '10'],
     ['--inference_crop', 'nocrop', '--inference_stride', '5', '--inference_batch_size', '1']),
    ('r3d10 t_stride 2', ['--model', 'resnet', '--model_depth', '10'],
     ['--sample_t_stride', '2', '--inference_stride', '3', '--inference_no_average',
      '--n_val_samples', '2']),
    ('r3d10 values', ['--model', 'resnet', '--model_depth', '10'],
     ['--value_scale', '255', '--mean_dataset', '0.5', '--no_std_norm', '--output_topk', '0']),
    ('r3d18 stem', ['--model', 'resnet', '--model_depth', '18', '--conv1_t_size', '3',
                    '--conv1_t_stride', '2', '--no_max_pool', '--resnet_widen_factor', '0.5'],
     ['--mean_dataset', 'activitynet', '--n_val_samples', '4']),
    ('wide50', ['--model', 'wideresnet', '--model_depth', '50'], ['--inference_batch_size', '2']),
]


def make_data(folder):
    """Six training and six validation videos of 7-40 frames, 48 or 60 pixels high, in the
    release's layout (segments, no n_frames files)."""
    from tests.datagen import write_footage_frames
    database = {}
    for subset, lengths in (('training', (12, 14, 20, 9, 30, 16)),
                            ('validation', (17, 33, 7, 20, 16, 40))):
        for i, n in enumerate(lengths):
            label, key = 'abc'[i % 3], f'{subset[0]}{i}'
            video = os.path.join(folder, 'jpg', label, key)
            write_footage_frames(video, n, height=48 if i % 2 else 60)
            os.remove(os.path.join(video, 'n_frames'))
            database[key] = {'subset': subset,
                             'annotations': {'label': label, 'segment': [1, n + 1]}}
    with open(os.path.join(folder, 'annotation.json'), 'w') as f:
        json.dump({'labels': list('abc'), 'database': database}, f)


def train_checkpoint(folder, name, model_flags, common):
    """A checkpoint this program writes under --recipe 2020 (one epoch, a low rate): the
    release's code must load it strictly."""
    out = os.path.join(folder, 'train', name)
    run([sys.executable, os.path.join(ROOT, 'main.py'), '--recipe', '2020', *common,
         *model_flags, '--n_epochs', '1', '--no_val', '--batch_size', '3', '--learning_rate',
         '0.0001', '--result_path', out], ROOT)
    return os.path.join(out, 'save_1.pth')


def run(command, cwd):
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f'failed ({done.returncode}): {" ".join(command)}\n{done.stderr[-2000:]}')


def largest_difference(ours, theirs, shift=0):
    """The largest difference of the two results' scores (labels and segments must
    agree; `shift`: theirs number frames this much later), and of the two val.log rows."""
    a, b = (json.load(open(os.path.join(d, 'val.json')))['results'] for d in (ours, theirs))
    assert list(a) == list(b), 'the videos differ'
    worst = 0.0
    for key in a:
        rows_a, rows_b = a[key], b[key]
        if rows_a and 'segment' in rows_a[0]:
            assert [[x + shift for x in r['segment']] for r in rows_a] == \
                [r['segment'] for r in rows_b], key
            rows_a = [r for row in rows_a for r in row['result']]
            rows_b = [r for row in rows_b for r in row['result']]
        assert [r['label'] for r in rows_a] == [r['label'] for r in rows_b], key
        worst = max([worst] + [abs(p['score'] - q['score']) for p, q in zip(rows_a, rows_b)])
    logs = [open(os.path.join(d, 'val.log')).read().split('\n')[1].split('\t')
            for d in (ours, theirs)]
    relative = max(abs(float(x) - float(y)) / max(abs(float(y)), 1e-12)
                   for x, y in zip(logs[0], logs[1]))
    return worst, relative, logs[0][1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--release', required=True, help='a checkout of the release (master)')
    parser.add_argument('--work', help='work folder (default: a temporary one)')
    args = parser.parse_args()
    folder = args.work or tempfile.mkdtemp(prefix='release2020_')
    make_data(folder)
    shim = os.path.join(folder, 'run_release.py')
    with open(shim, 'w') as f:
        f.write(SHIM)
    common = ['--video_path', os.path.join(folder, 'jpg'), '--annotation_path',
              os.path.join(folder, 'annotation.json'), '--dataset', 'ucf101', '--n_classes',
              '3', '--sample_size', '32', '--sample_duration', '8', '--no_cuda', '--n_threads',
              '0']
    failed = False
    for name, model_flags, flags in SETTINGS:
        checkpoint = train_checkpoint(folder, name.replace(' ', '_'), model_flags, common)
        line = [*common, *model_flags, *flags, '--resume_path', checkpoint, '--no_train',
                '--n_epochs', '1', '--inference', '--batch_size', '6']
        ours, theirs = (os.path.join(folder, side, name.replace(' ', '_'))
                        for side in ('ours', 'release'))
        os.makedirs(theirs)
        run([sys.executable, os.path.join(ROOT, 'main.py'), '--recipe', '2020', *line,
             '--result_path', ours], ROOT)
        run([sys.executable, shim, *line, '--result_path', theirs], args.release)
        scores, loss, value = largest_difference(ours, theirs)
        failed |= scores > 1e-4 or loss > 1e-4
        print(f'{name:18} scores differ by at most {scores:.1e}; val.log by {loss:.1e} '
              f'(relative; loss {float(value):.4g})')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
