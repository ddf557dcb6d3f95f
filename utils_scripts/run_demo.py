"""The demo behind `make demo`: the whole documented path on generated videos.

Generates videos of six actions that differ only in motion, extracts their frames, writes
n_frames and the annotation JSON, trains a 3D ResNet-10 with validation, tests it on
held-out videos and prints the video-level accuracy; then fine-tunes that model on four new
actions, evaluates again, and classifies raw held-out .mp4 files with inference.py. Each
command is printed before it runs.

    python utils_scripts/run_demo.py [--out demo_data] [--epochs N] [--per_class N] ...
"""
import argparse
import csv
import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(SCRIPTS)
# The model and its clips (the checkpoints record them: inference.py needs none), the
# loader, then how main.py trains it.
MODEL = ['--model', 'resnet', '--model_depth', '10', '--resnet_shortcut', 'A',
         '--sample_duration', '16', '--norm_value', '255', '--std_norm']
LOADER = ['--batch_size', '12', '--n_threads', '2']
TRAINING = ['--train_crop', 'center', '--n_scales', '1', '--amp', '--channels_last',
            '--n_val_samples', '1', '--learning_rate', '0.01', '--lr_patience', '2']
# Fine-tuning trains only layer4 and the new fc, from a model that already sees motion: a
# higher rate gets there in its few epochs (settings tried: bench/RESULTS.md).
FINE_TUNING = ['--ft_begin_index', '4', '--learning_rate', '0.03']


def run(*command, capture=False):
    shown = ' '.join(shlex.quote(c) for c in command).replace(sys.executable, 'python')
    print(f'\n$ {shown}', flush=True)
    done = subprocess.run(command, cwd=ROOT, text=True,
                          stdout=subprocess.PIPE if capture else None)
    if done.returncode != 0:
        sys.exit(f'demo stopped: the command above failed (exit {done.returncode})')
    if capture:
        print(done.stdout, end='')
    return done.stdout


def script(name, *args, capture=False):
    return run(sys.executable, os.path.join('utils_scripts', name), *args, capture=capture)


def prepare(out, classes, per_class, held_out):
    """Videos -> frames -> n_frames -> annotation JSONs (the test split as 'validation' in
    a second JSON, so that the test pass and the evaluation run on held-out videos)."""
    script('make_demo_videos.py', out, '--classes', classes, '--per_class', str(per_class),
           '--held_out', str(held_out))
    script('video_jpg_kinetics.py', f'{out}/videos', f'{out}/jpg')
    script('n_frames_kinetics.py', f'{out}/jpg')
    script('kinetics_json.py', f'{out}/train.csv', f'{out}/val.csv', f'{out}/test.csv',
           f'{out}/demo.json')
    script('kinetics_json.py', f'{out}/train.csv', f'{out}/test.csv', f'{out}/val.csv',
           f'{out}/demo_test.json')


def train_test_evaluate(out, n_classes, epochs, sample_size, train_flags=()):
    """Train (with validation), test on held-out videos, plot, evaluate; returns the
    evaluation's accuracy line. `n_classes`: the classes of the trained model."""
    data = ['--root_path', out, '--video_path', 'jpg', '--dataset', 'kinetics', *MODEL,
            '--sample_size', str(sample_size), *LOADER, *TRAINING]
    run(sys.executable, 'main.py', *data, '--annotation_path', 'demo.json', '--result_path',
        'results', '--n_epochs', str(epochs), '--checkpoint', str(epochs), *train_flags)
    run(sys.executable, 'main.py', *data, '--annotation_path', 'demo_test.json',
        '--result_path', 'test_results', '--n_classes', str(n_classes), '--no_train',
        '--no_val', '--test', '--resume_path', f'results/save_{epochs}.pth')
    try:
        import matplotlib  # noqa: F401  (make demo installs it; the demo runs without)
        script('plot_curves.py', f'{out}/results')
    except ImportError:
        print('training curves not drawn: pip install matplotlib')
    line = script('eval_kinetics.py', f'{out}/demo_test.json', f'{out}/test_results/val.json',
                  capture=True)
    return line.strip()


def classify_raw_videos(out, checkpoint):
    """inference.py on one held-out .mp4 per class, straight from the files; prints each
    video's true and predicted action."""
    with open(f'{out}/test.csv') as f:
        rows = list(csv.DictReader(f))
    firsts = {}
    for row in rows:
        firsts.setdefault(row['label'], row)
    videos = sorted(glob.glob(f'{out}/videos/{glob.escape(row["label"])}/'
                              f'{glob.escape(row["youtube_id"])}_*.mp4')[0]
                    for row in firsts.values())
    list_file = f'{out}/raw_videos.txt'
    with open(list_file, 'w') as f:
        f.write(''.join(os.path.abspath(v) + '\n' for v in videos))
    run(sys.executable, 'inference.py', list_file, '--output', f'{out}/inference',
        '--resume_path', checkpoint, '--n_threads', '2', '--top_k', '1')
    with open(f'{out}/inference/results.json') as f:
        results = json.load(f)['results']
    print('\nRaw held-out videos, classified by inference.py:')
    for video in videos:
        name = os.path.splitext(os.path.basename(video))[0]
        true = os.path.basename(os.path.dirname(video))
        predicted = results[name][0]['label']
        verdict = 'right' if predicted == true else f'wrong, it is {true}'
        print(f'  {name}: {predicted}  ({verdict})')


MARKER = '.made_by_run_demo'


def fresh_output_folder(out):
    """Start from an empty `out`: a previous demo's folder is replaced (its extracted frames
    would otherwise be reused for new videos); any other non-empty folder is refused."""
    if os.path.isdir(out) and os.listdir(out):
        if not os.path.exists(os.path.join(out, MARKER)):
            sys.exit(f'error: {out} is not empty and was not made by the demo; '
                     f'pass another --out')
        print(f'replacing the previous demo in {out}')
        shutil.rmtree(out)
    os.makedirs(out, exist_ok=True)
    open(os.path.join(out, MARKER), 'w').close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='demo_data')
    parser.add_argument('--epochs', type=int, default=14)
    parser.add_argument('--sample_size', type=int, default=64,
                        help='clip height and width (the model is ResNet-10)')
    parser.add_argument('--finetune_epochs', type=int, default=10)
    parser.add_argument('--per_class', type=int, default=120,
                        help='training videos per class of the six actions')
    parser.add_argument('--finetune_per_class', type=int, default=40,
                        help='training videos per class of the four new actions')
    parser.add_argument('--held_out', type=int, default=10,
                        help='validation and test videos per class (each)')
    args = parser.parse_args(argv)
    start = time.time()
    fresh_output_folder(args.out)
    main_dir, ft_dir = f'{args.out}/actions', f'{args.out}/new_actions'
    prepare(main_dir, 'main', args.per_class, args.held_out)
    first = train_test_evaluate(main_dir, 6, args.epochs, args.sample_size, ['--n_classes', '6'])
    prepare(ft_dir, 'finetune', args.finetune_per_class, args.held_out)
    pretrained = os.path.abspath(f'{main_dir}/results/save_{args.epochs}.pth')
    second = train_test_evaluate(ft_dir, 4, args.finetune_epochs, args.sample_size,
                                 ['--n_classes', '6', '--pretrain_path', pretrained,
                                  '--n_finetune_classes', '4', *FINE_TUNING])
    finetuned = os.path.abspath(f'{ft_dir}/results/save_{args.finetune_epochs}.pth')
    classify_raw_videos(ft_dir, finetuned)
    minutes = (time.time() - start) / 60
    print(f'\nSix actions, trained from scratch, on held-out videos: {first}')
    print(f'Four new actions, fine-tuned from it (layer4 and fc): {second}')
    print(f'Training curves: {main_dir}/results/curves.png and {ft_dir}/results/curves.png')
    print(f'Done in {minutes:.1f} minutes.')


if __name__ == '__main__':
    main()
