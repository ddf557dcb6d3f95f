"""Kinetics annotation JSON from the distributed CSV files.

    python utils_scripts/kinetics_json.py TRAIN_CSV VAL_CSV TEST_CSV DST_JSON

Keys are `{youtube_id}_{time_start:06d}_{time_end:06d}`; labels are in order of first
appearance in the training CSV; the test CSV has no label column.
"""
import argparse
import csv
import json
import sys


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


def build(train_csv, val_csv, test_csv):
    train_rows = read_rows(train_csv, labelled=True)
    labels = list(dict.fromkeys(row['label'] for row in train_rows))
    database, listed = {}, {}
    for path, rows, subset in ((train_csv, train_rows, 'training'),
                               (val_csv, read_rows(val_csv, labelled=True), 'validation'),
                               (test_csv, read_rows(test_csv, labelled=False), 'testing')):
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ('train_csv', 'val_csv', 'test_csv', 'dst_json'):
        parser.add_argument(name)
    args = parser.parse_args(argv)
    data = build(args.train_csv, args.val_csv, args.test_csv)
    with open(args.dst_json, 'w') as f:
        json.dump(data, f)
    print(f'wrote {args.dst_json}: {len(data["labels"])} classes, {len(data["database"])} videos')


if __name__ == '__main__':
    main()
