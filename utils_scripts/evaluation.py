"""Video-level top-k accuracy of a result JSON (main.py --test) against an annotation JSON.

Shared by eval_ucf101.py, eval_hmdb51.py, eval_kinetics.py and eval_activitynet.py, each
naming its layout in datasets/registry.py (which says what a video's labels and id are);
importable:

    from utils_scripts.evaluation import evaluate
    accuracy, correct, total = evaluate('ucf101_01.json', 'results/val.json')

Every annotated video of the subset counts; one without a prediction counts as wrong (the
programs say how many there are; --ignore leaves them out).
Results of the 2020 release's --inference_no_average (each window's classes) are averaged
per video where every window lists every class (--output_topk 0), and refused otherwise.
"""
import argparse
import json
import os
import sys
from typing import NamedTuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datasets.registry import DATASETS  # noqa: E402


def load_json(path, what):
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ValueError(f'{what} not found: {path}') from None
    except IsADirectoryError:
        raise ValueError(f'{path} is a folder: give the {what} (a JSON file) in it') from None
    except UnicodeDecodeError:
        raise ValueError(f'{path} is not a text file: give the {what} (JSON)') from None
    except json.JSONDecodeError as e:
        raise ValueError(f'{path} is not valid JSON: {e.msg} at line {e.lineno}') from None
    except (ValueError, RecursionError) as e:  # a 5000-digit number, deep nesting
        raise ValueError(f'{path} is not a {what}: {e}') from None
    if not isinstance(data, dict):
        raise ValueError(f'{path} is not a {what} (a JSON object)')
    return data


def by_video_id(results, truth, layout):
    """The results keyed by video id: inference.py names a video found in class folders
    `<class>/<file name>`, whose last part (less a Kinetics time suffix) is the id."""
    keyed = {}
    for name, predictions in results.items():
        video_id = name if name in truth else layout.video_id(name.replace('\\', '/')
                                                              .rsplit('/', 1)[-1])
        keyed.setdefault(video_id, predictions)
    return keyed


class Score(NamedTuple):
    accuracy: float
    correct: int
    total: int  # the labelled videos of the subset counted
    missing: int  # of those, the videos without a result (wrong, or left out with ignore)


def evaluate(annotation_path, result_path, subset='validation', top_k=1, dataset='ucf101',
             ignore=False):
    """(accuracy, correct, total) over the annotated videos of `subset`: a video is right
    when one of its labels is among its top_k predictions (score() says more)."""
    return score(annotation_path, result_path, subset, top_k, dataset, ignore)[:3]


def score(annotation_path, result_path, subset='validation', top_k=1, dataset='ucf101',
          ignore=False):
    """The Score of `result_path` over the annotated videos of `subset`. `dataset`: the
    layout (its video ids and labels), as main.py's --dataset names it, or a layout.
    `ignore`: videos without a result are left out (by default they count as wrong)."""
    layout = DATASETS[dataset] if isinstance(dataset, str) else dataset
    database = load_json(annotation_path, 'annotation file').get('database')
    results = load_json(result_path, 'result file').get('results')
    if not isinstance(database, dict):
        raise ValueError(f'{annotation_path} is not an annotation file: it has no "database" '
                         'object')
    if not isinstance(results, dict) or not all(isinstance(v, list) for v in results.values()):
        raise ValueError(f'{result_path} is not a result file of main.py --test or '
                         'inference.py: it has no "results" object of per-video lists')
    if not results:
        raise ValueError(f'{result_path} holds no results: the test pass scored no video')
    results = video_results(results, result_path)
    entries = {layout.video_id(key): value for key, value in database.items()
               if isinstance(value, dict) and value.get('subset') == subset}
    truth = {vid: layout.labels_of(value) for vid, value in entries.items()}
    truth = {vid: labels for vid, labels in truth.items() if labels}
    results = by_video_id(results, truth, layout)
    if entries and not truth:
        raise ValueError(f'{annotation_path} holds no labels of the {layout.title} layout in '
                         f'subset {subset!r}: is it an annotation file of another dataset '
                         '(eval_activitynet.py reads ActivityNet\'s)?')
    if results and truth and not set(results) & set(truth):
        raise ValueError(f'none of the {len(results)} videos of {result_path} is in subset '
                         f'{subset!r} of {annotation_path}: is it a result of another dataset?')
    missing = sum(1 for vid in truth if vid not in results)
    if ignore:
        truth = {vid: labels for vid, labels in truth.items() if vid in results}
    correct = sum(1 for vid, labels in truth.items()
                  if labels & {p.get('label') for p in results.get(vid, [])[:top_k]
                               if isinstance(p, dict)})
    return Score(correct / len(truth) if truth else 0.0, correct, len(truth), missing)


def video_results(results, result_path):
    """Per-video results as lists of {'label', 'score'}, best first. The release's
    --inference_no_average writes each window's instead ({'segment', 'result'}): their mean
    per video, where every window lists every class; otherwise a ValueError saying what
    the file holds."""
    windows = [rows for rows in results.values()
               if rows and all(isinstance(r, dict) and 'result' in r for r in rows)]
    if not windows:
        return results
    if len(windows) != len(results):
        raise ValueError(f'{result_path} mixes per-video and per-window results')
    classes = {r.get('label') for rows in windows for row in rows for r in row['result']}
    if any({r.get('label') for r in row['result']} != classes
           for rows in windows for row in rows):
        raise ValueError(f'{result_path} holds each window\'s top classes (--inference_no_'
                         'average), not each video\'s: run --inference without '
                         '--inference_no_average, or with --output_topk 0 so that the '
                         'windows\' scores can be averaged here')
    averaged = {}
    for name, rows in results.items():
        means = {label: sum(r['score'] for row in rows for r in row['result']
                            if r['label'] == label) / len(rows) for label in classes}
        averaged[name] = [{'label': label, 'score': value} for label, value in
                          sorted(means.items(), key=lambda item: -item[1])]
    return averaged


def missing_line(result, subset, ignore):
    """A line saying how many labelled videos of the subset have no result, or None."""
    if not result.missing:
        return None
    if ignore:
        return (f'note: {result.missing} of the {result.total + result.missing} videos of '
                f'subset {subset!r} have no result and are left out (--ignore)')
    return (f'note: {result.missing} of the {result.total} videos of subset {subset!r} have no '
            'result and count as wrong; --ignore leaves them out')


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {text}')
    return value


def main(dataset, argv=None):
    parser = argparse.ArgumentParser(description='Video-level top-k accuracy.')
    parser.add_argument('annotation_path')
    parser.add_argument('result_path')
    parser.add_argument('--subset', default='validation')
    parser.add_argument('--top_k', type=positive_int, default=1)
    parser.add_argument('--ignore', action='store_true',
                        help='leave out the videos the results lack (by default: wrong)')
    args = parser.parse_args(argv)
    try:
        result = score(args.annotation_path, args.result_path, args.subset, args.top_k,
                       dataset, args.ignore)
    except ValueError as e:
        sys.exit(f'error: {e}')
    if result.total == 0:
        sys.exit(f'error: {args.annotation_path} has no videos in subset {args.subset!r}')
    line = missing_line(result, args.subset, args.ignore)
    if line:
        print(line, file=sys.stderr)
    print(f'top-{args.top_k} video accuracy: {result.accuracy:.3f} '
          f'({result.correct}/{result.total})')
