"""The class names a model was trained with, one a line, in the order its outputs are
numbered: the file inference.py and export.py take as --class_names.

    python utils_scripts/class_names.py SOURCE OUTPUT.txt

SOURCE is one of
- Kinetics' training CSV (`label,youtube_id,time_start,time_end,...`, e.g. Kinetics-700's
  train.csv): the labels in order of first appearance, the order kinetics_json.py (and the
  2020 release's) numbers them, and so the order of the published Kinetics-700 models
  (r3d*_K_200ep.pth, r2p1d*_K_200ep.pth), which were trained from that file;
- Moments in Time's moments_categories.txt (`<name>,<index>` lines): its order, mit_json.py's
  (the published r3d*_M_200ep.pth models);
- an annotation file main.py reads (kinetics.json, ucf101_01.json, activitynet.json, ...): its
  classes in the order main.py numbers them.
The merged sets' models (KM, KS, MS, KMS) were numbered by the release's own merged files,
which it did not publish: give their names in that order by hand, if you have it.
"""
import argparse
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datasets.class_names import annotation_class_names  # noqa: E402
from utils import UserError, write_atomically  # noqa: E402
from utils_scripts import kinetics_json, mit_json  # noqa: E402


def first_rows(path, n=50):
    """The first `n` rows of a CSV file, to tell which kind of file it is."""
    try:
        with open(path, newline='', encoding='utf-8-sig') as f:
            return [row for _, row in zip(range(n), csv.reader(f))]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f'cannot read {path}: {e}') from None


# The first classes of the published Kinetics-700 models, as their authors' annotation file
# numbers them (quoted by a user of the release): a training CSV that gives another order is
# not the one those models were trained from.
PUBLISHED_KINETICS_700_FIRST = ('slicing onion', 'jetskiing', 'building cabinet',
                                'eating hotdog', 'building lego')


def kinetics_labels(path):
    """The labels of a Kinetics CSV, numbered as kinetics_json.py numbers them; a 700-class
    file of another order than the published models' is said."""
    labels = kinetics_json.labels_of(kinetics_json.read_rows(path, labelled=True))
    first = tuple(labels[:len(PUBLISHED_KINETICS_700_FIRST)])
    if len(labels) == 700 and first != PUBLISHED_KINETICS_700_FIRST:
        print(f'warning: {path} gives the classes another order than the published '
              f'Kinetics-700 models ({", ".join(first)}, ... where theirs begin '
              f'{", ".join(PUBLISHED_KINETICS_700_FIRST)}, ...): another version of the '
              'dataset\'s CSV files; the names would be wrong for those models (right '
              'for a model trained here from this file)', file=sys.stderr)
    return labels


def class_names_of(path):
    """The class names `path` gives, in its models' order (see the module's help)."""
    if not os.path.isfile(path):
        raise UserError(f'{path} is not a file: give a Kinetics training CSV, '
                        'moments_categories.txt or an annotation file')
    if path.lower().endswith('.json'):
        return annotation_class_names(path)
    rows = first_rows(path)
    if rows and 'label' in rows[0] and 'youtube_id' in rows[0]:
        if 'split' in rows[0] and any(row[rows[0].index('split')] != 'train'
                                      for row in rows[1:] if len(row) == len(rows[0])):
            print(f'warning: {path} is not a training CSV: the published models number '
                  'their classes by the training CSV\'s order', file=sys.stderr)
        return kinetics_labels(path)
    if rows and all(len(row) == 2 and row[1].strip().isdigit() for row in rows if row):
        return mit_json.category_names(path)
    raise UserError(f'{path} is neither a Kinetics CSV (a label,youtube_id,... header), a '
                    '<name>,<index> categories file nor an annotation file (.json)')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n', 2)[2])
    parser.add_argument('source', help='a Kinetics training CSV, moments_categories.txt or '
                                       'an annotation file')
    parser.add_argument('output', help='the text file to write, one class name a line')
    args = parser.parse_args(argv)
    try:
        folder = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(folder):
            raise UserError(f'the folder of {args.output} does not exist: make it first')
        names = class_names_of(args.source)
        if not names:
            raise UserError(f'{args.source} names no classes')
        if any('\n' in name or name != name.strip() for name in names):
            raise UserError(f'{args.source} has a class name with a line break or spaces '
                            'at an end, which a one-name-a-line file cannot hold')
        write_atomically(args.output, lambda f: f.write(
            ''.join(f'{name}\n' for name in names).encode('utf-8')), 'the class names')
    except UserError as e:
        sys.exit(f'error: {e}')
    print(f'wrote the {len(names)} class names of {args.source} to {args.output}')


if __name__ == '__main__':
    main()
