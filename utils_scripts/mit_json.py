"""Moments in Time annotation JSON (the 2020 release's layout, main.py --recipe 2020
--dataset mit) from its category and CSV files.

    python -m utils_scripts.mit_json DIR JPG_VIDEO_DIR DST_JSON

DIR holds moments_categories.txt (`<name>,<index>` lines), trainingSet.csv and
validationSet.csv (`<label>/<file>,<label>,...` rows) and, optionally, testingSet.csv
(`<file>` rows). A video's key is its file name less the extension; its frames, counted in
JPG_VIDEO_DIR/<label>/<key> (test videos: test/<key>), are its segment [1, n + 1]; an HDF5
file <key>.hdf5 there gives [0, n) (the release's numbering).
"""
import argparse
import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from segments import add_segments  # noqa: E402


def read_rows(path):
    try:
        with open(path, newline='', encoding='utf-8-sig') as f:
            return [(n, row) for n, row in enumerate(csv.reader(f), 1) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        sys.exit(f'error: cannot read {path}: {e}')


def subset_entries(path, subset, labels):
    """{key: entry} of one CSV file; a malformed row exits naming the file and line."""
    entries = {}
    for n, row in read_rows(path):
        parts = row[0].replace('\\', '/').split('/')
        if subset == 'testing':
            if len(parts) != 1 or not parts[0]:
                sys.exit(f'error: {path} line {n}: expected a file name, found {row[0]!r}')
            label = None
        else:
            if len(parts) != 2 or not all(parts) or len(row) < 2:
                sys.exit(f'error: {path} line {n}: expected "<label>/<file>,<label>", found '
                         f'{",".join(row)!r}')
            label = row[1]
            if label not in labels:
                sys.exit(f'error: {path} line {n}: the label {label!r} is not in '
                         'moments_categories.txt')
        key = os.path.splitext(parts[-1])[0]
        entries[key] = {'subset': subset,
                        'annotations': {} if label is None else {'label': label}}
    return entries


def category_names(path):
    """The class names of moments_categories.txt (`<name>,<index>` lines), in its order."""
    return [row[0] for _, row in read_rows(path)]


def build(folder):
    categories = os.path.join(folder, 'moments_categories.txt')
    if not os.path.isfile(categories):
        sys.exit(f'error: no moments_categories.txt in {folder}: give the folder of Moments in '
                 'Time\'s category and CSV files')
    labels = category_names(categories)
    database = {}
    for name, subset in (('trainingSet.csv', 'training'), ('validationSet.csv', 'validation'),
                         ('testingSet.csv', 'testing')):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            if subset == 'testing':
                continue
            sys.exit(f'error: {path} not found')
        database.update(subset_entries(path, subset, set(labels)))
    return {'labels': labels, 'database': database}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dir', help='folder of moments_categories.txt and the CSV files')
    parser.add_argument('video_path', help='the frame folders or HDF5 files, to count frames')
    parser.add_argument('dst_json')
    args = parser.parse_args(argv)
    data = build(args.dir)
    add_segments(data['database'], args.video_path)
    with open(args.dst_json, 'w') as f:
        json.dump(data, f)
    print(f'wrote {args.dst_json}: {len(data["labels"])} classes, {len(data["database"])} '
          'videos')


if __name__ == '__main__':
    main()
