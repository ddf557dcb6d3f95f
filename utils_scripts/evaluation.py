"""Video-level top-k accuracy of a result JSON (main.py --test) against an annotation JSON.

Shared by eval_ucf101.py, eval_hmdb51.py and eval_kinetics.py; importable:

    from utils_scripts.evaluation import evaluate
    accuracy, correct, total = evaluate('ucf101_01.json', 'results/val.json')

Every annotated video of the subset counts; one without a prediction counts as wrong.
"""
import argparse
import json
import sys


def load_json(path, what):
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ValueError(f'{what} not found: {path}') from None
    except json.JSONDecodeError as e:
        raise ValueError(f'{path} is not valid JSON: {e.msg} at line {e.lineno}') from None
    if not isinstance(data, dict):
        raise ValueError(f'{path} is not a {what} (a JSON object)')
    return data


def label_of(value):
    annotations = value.get('annotations')
    return annotations.get('label') if isinstance(annotations, dict) else None


def evaluate(annotation_path, result_path, subset='validation', top_k=1,
             video_id=lambda key: key):
    """(accuracy, correct, total) over the annotated videos of `subset`."""
    database = load_json(annotation_path, 'annotation file').get('database', {})
    results = load_json(result_path, 'result file').get('results', {})
    truth = {video_id(key): label_of(value) for key, value in database.items()
             if isinstance(value, dict) and value.get('subset') == subset}
    correct = sum(1 for vid, label in truth.items()
                  if label in [p['label'] for p in results.get(vid, [])[:top_k]])
    return (correct / len(truth) if truth else 0.0), correct, len(truth)


def main(video_id=lambda key: key, argv=None):
    parser = argparse.ArgumentParser(description='Video-level top-k accuracy.')
    parser.add_argument('annotation_path')
    parser.add_argument('result_path')
    parser.add_argument('--subset', default='validation')
    parser.add_argument('--top_k', type=int, default=1)
    args = parser.parse_args(argv)
    try:
        accuracy, correct, total = evaluate(args.annotation_path, args.result_path,
                                            args.subset, args.top_k, video_id)
    except ValueError as e:
        sys.exit(f'error: {e}')
    if total == 0:
        sys.exit(f'error: {args.annotation_path} has no videos in subset {args.subset!r}')
    print(f'top-{args.top_k} video accuracy: {accuracy:.3f} ({correct}/{total})')
