"""Video-level top-k accuracy, as the 2020 release's evaluation script computes it, for
results of main.py --recipe 2020 --inference (or of main.py --test and inference.py).

    python -m utils_scripts.eval_accuracy ANNOTATION_JSON RESULT_JSON [--subset val] [-k 1]
        [--ignore] [--save]

--subset takes the annotation's names (training, validation, testing) or the release's
short ones (train, val, test: its own README's command divides by zero on them). The video
ids are the annotation's keys, whole. --ignore leaves out the videos the results lack (by
default they count as wrong); --save also writes the accuracy to top<k>.txt beside the
results. Results of --inference_no_average are averaged per video where every window lists
every class (--output_topk 0), and refused otherwise.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evaluation import load_json, missing_line, positive_int, score  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datasets.registry import DATASETS  # noqa: E402
from datasets.segments import SegmentsLayout  # noqa: E402

SUBSETS = {'train': 'training', 'val': 'validation', 'test': 'testing'}


def layout_of(annotation_path):
    """ActivityNet's layout for its files (a taxonomy), the release's (whole keys as ids)
    for the others."""
    data = load_json(annotation_path, 'annotation file')
    if 'taxonomy' in data:
        return DATASETS['activitynet']
    return SegmentsLayout('annotation', 'annotation')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('annotation_path')
    parser.add_argument('result_path')
    parser.add_argument('-k', '--top_k', type=positive_int, default=1)
    parser.add_argument('--subset', default='validation')
    parser.add_argument('--ignore', action='store_true',
                        help='leave out the videos the results lack')
    parser.add_argument('--save', action='store_true',
                        help='also write the accuracy to top<k>.txt beside the results')
    args = parser.parse_args(argv)
    subset = SUBSETS.get(args.subset, args.subset)
    try:
        result = score(args.annotation_path, args.result_path, subset, args.top_k,
                       layout_of(args.annotation_path), args.ignore)
    except ValueError as e:
        if subset == 'testing':  # Kinetics' test videos, the release's `test/`, have none
            sys.exit(f'error: the testing subset of {args.annotation_path} has no labels to '
                     'score against: evaluate --subset val')
        sys.exit(f'error: {e}')
    if result.total == 0:
        sys.exit(f'error: no video of subset {subset!r} of {args.annotation_path} is '
                 + ('in the results' if args.ignore else 'labelled'))
    line = missing_line(result, subset, args.ignore)
    if line:
        print(line, file=sys.stderr)
    print(f'top-{args.top_k} video accuracy: {result.accuracy:.3f} '
          f'({result.correct}/{result.total})')
    if args.save:
        path = os.path.join(os.path.dirname(os.path.abspath(args.result_path)),
                            f'top{args.top_k}.txt')
        with open(path, 'w') as f:
            f.write(str(result.accuracy))


if __name__ == '__main__':
    main()
