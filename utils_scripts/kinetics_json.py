"""Kinetics annotation JSON from the distributed CSV files.

    python utils_scripts/kinetics_json.py TRAIN_CSV VAL_CSV TEST_CSV DST_JSON
    python -m utils_scripts.kinetics_json CSV_DIR 700 VIDEO_DIR {jpg,hdf5} DST_JSON  # 2020's

Keys are `{youtube_id}_{time_start:06d}_{time_end:06d}`; labels are in order of first
appearance in the training CSV; the test CSV has no label column. The first form gives each
entry its clip's times as its segment (seconds, the CVPR 2018 layout). The second, the 2020
release's, reads kinetics-{N}_{train,val,test}.csv from CSV_DIR (the test file is optional)
and gives each video found in VIDEO_DIR/<label>/<key> (test videos: test/<key>) its frames
as a segment: [1, n + 1] for a frame folder (jpg), [0, n) for an HDF5 file `<key>.hdf5`
(hdf5, the release's numbering); the others have none, and main.py --recipe 2020 skips
them.
"""
import argparse
import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from segments import add_segments  # noqa: E402


def read_rows(path, labelled):
    """The rows of a CSV, each checked: a youtube_id, numeric times and (`labelled`) a
    label; a bad row exits naming the file and line."""
    try:
        with open(path, newline='', encoding='utf-8-sig') as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        sys.exit(f'error: cannot read {path}: {e}')
    needed = {'youtube_id', 'time_start', 'time_end'} | ({'label'} if labelled else set())
    if rows and not needed <= set(rows[0]):
        sys.exit(f'error: {path} lacks the columns {", ".join(sorted(needed - set(rows[0])))}')
    for line, row in enumerate(rows, 2):  # line 1 is the header
        for column in ('time_start', 'time_end'):
            try:
                float(row[column])
            except (TypeError, ValueError):
                sys.exit(f'error: {path} line {line}: {column} {row[column]!r} is not a '
                         'number of seconds')
        if not row['youtube_id'] or labelled and not row['label']:
            sys.exit(f'error: {path} line {line}: an empty youtube_id or label')
    return rows


def key(row):
    return f'{row["youtube_id"]}_{int(float(row["time_start"])):06d}_' \
           f'{int(float(row["time_end"])):06d}'


def labels_of(train_rows):
    """The class names in the order the releases number them: of first appearance in the
    training CSV."""
    return list(dict.fromkeys(row['label'] for row in train_rows))


def build(train_csv, val_csv, test_csv):
    train_rows = read_rows(train_csv, labelled=True)
    labels = labels_of(train_rows)
    database, listed = {}, {}
    subsets = [(train_csv, train_rows, 'training'),
               (val_csv, read_rows(val_csv, labelled=True), 'validation')]
    if test_csv is not None:
        subsets.append((test_csv, read_rows(test_csv, labelled=False), 'testing'))
    for path, rows, subset in subsets:
        for line, row in enumerate(rows, 2):
            if key(row) in listed:
                sys.exit(f'error: {key(row)} is listed twice: {listed[key(row)]} and {path} '
                         f'line {line}; a video belongs to one subset')
            listed[key(row)] = f'{path} line {line}'
            if subset == 'validation' and row['label'] not in labels:
                sys.exit(f'error: {path} line {line}: the label {row["label"]!r} is not in '
                         f'the training CSV {train_csv}')
            segment = [float(row['time_start']), float(row['time_end'])]
            annotations = {} if subset == 'testing' else {'label': row['label'],
                                                          'segment': segment}
            database[key(row)] = {'subset': subset, 'annotations': annotations}
    return {'labels': labels, 'database': database}


def release_2020_files(csv_dir, n_classes, video_type):
    """(train, val, test or None) CSV paths of the 2020 release's form."""
    if n_classes not in ('400', '600', '700'):
        sys.exit(f'error: the number of classes is 400, 600 or 700, not {n_classes!r}')
    if video_type not in ('jpg', 'hdf5'):
        sys.exit(f'error: video type {video_type!r}: jpg (frame folders) or hdf5 (HDF5 files)')
    paths = [os.path.join(csv_dir, f'kinetics-{n_classes}_{subset}.csv')
             for subset in ('train', 'val', 'test')]
    for path in paths[:2]:
        if not os.path.isfile(path):
            sys.exit(f'error: {path} not found: CSV_DIR holds kinetics-{n_classes}_train.csv '
                     f'and kinetics-{n_classes}_val.csv (the crawler\'s)')
    return paths[0], paths[1], paths[2] if os.path.isfile(paths[2]) else None


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        usage='%(prog)s TRAIN_CSV VAL_CSV TEST_CSV DST_JSON\n'
              '       %(prog)s CSV_DIR {400,600,700} VIDEO_DIR {jpg,hdf5} DST_JSON')
    parser.add_argument('args', nargs='+', help='as the usage line shows')
    args = parser.parse_args(argv).args
    if len(args) == 4:
        data = build(*args[:3])
    elif len(args) == 5:
        train, val, test = release_2020_files(args[0], args[1], args[3])
        data = build(train, val, test)
        for entry in data['database'].values():  # frames, not seconds
            entry['annotations'].pop('segment', None)
        add_segments(data['database'], args[2], args[3])
    else:
        parser.error(f'expected 4 arguments (CSV files) or 5 (the 2020 release\'s form), '
                     f'got {len(args)}')
    with open(args[-1], 'w') as f:
        json.dump(data, f)
    print(f'wrote {args[-1]}: {len(data["labels"])} classes, {len(data["database"])} videos')


if __name__ == '__main__':
    main()
