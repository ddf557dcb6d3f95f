"""UCF-101 annotation JSONs ucf101_01..03.json from classInd.txt and the split lists.

    python utils_scripts/ucf101_json.py DIR    # DIR holds classInd.txt, trainlist0N.txt, ...
    python -m utils_scripts.ucf101_json DIR JPG_VIDEO_DIR DST_DIR    # the 2020 release's

The second form writes the 2020 release's files into DST_DIR: each video's frames counted in
JPG_VIDEO_DIR/<class>/<key> as a segment [1, n + 1] (--recipe 2020 needs no n_frames files),
or in the HDF5 file <class>/<key>.hdf5 there as [0, n) (the release's numbering).

Training lists give the `training` subset, test lists `validation`. A list line is
`<class>/<video file>[ <class index>]` (`\\` separators are taken too); a video listed twice,
a line without a class folder, or a class that classInd.txt does not name is an error that
names the file and line.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from segments import add_segments  # noqa: E402


class ListError(Exception):
    pass


def read_lines(path):
    """(line number, stripped text) of the non-empty lines (a byte-order mark dropped)."""
    try:
        with open(path, encoding='utf-8-sig') as f:
            return [(n, line.strip()) for n, line in enumerate(f, 1) if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise ListError(f'cannot read {path}: {e}') from None


def class_names(path):
    """The names of classInd.txt (`<index> <name>` a line; a name may hold spaces)."""
    names = []
    for n, line in read_lines(path):
        fields = line.split(None, 1)
        if len(fields) != 2:
            raise ListError(f'{path} line {n}: expected "<index> <class name>", found {line!r}')
        names.append(fields[1])
    return names


def split_database(train_list, test_list, labels):
    database, listed = {}, {}
    known = set(labels)
    for path, subset in ((train_list, 'training'), (test_list, 'validation')):
        for n, line in read_lines(path):
            fields = line.rsplit(None, 1)  # the path (which may hold spaces), its index
            entry = fields[0] if len(fields) == 2 and fields[1].isdigit() else line
            parts = entry.replace('\\', '/').split('/')
            if len(parts) != 2 or not all(parts):
                raise ListError(f'{path} line {n}: expected "<class>/<video file>", found '
                                f'{line!r}')
            class_name, file_name = parts
            if class_name not in known:
                raise ListError(f'{path} line {n}: class {class_name!r} is not in classInd.txt')
            key = os.path.splitext(file_name)[0]
            if key in listed:
                raise ListError(f'{key} is listed twice: {listed[key]} and {path} line {n}; '
                                'a video belongs to one subset')
            listed[key] = f'{path} line {n}'
            database[key] = {'subset': subset, 'annotations': {'label': class_name}}
    return database


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dir', help='folder of classInd.txt, trainlist0N.txt, testlist0N.txt')
    parser.add_argument('video_path', nargs='?',
                        help='the frame folders or HDF5 files, to write segments (the 2020 '
                             'release\'s form)')
    parser.add_argument('dst_dir', nargs='?', help='where the JSON files go (default: DIR)')
    args = parser.parse_args(argv)
    if args.video_path and not args.dst_dir:
        parser.error('the 2020 release\'s form takes DIR JPG_VIDEO_DIR DST_DIR')
    if args.dst_dir and (args.dst_dir.lower().endswith('.json') or
                         os.path.isfile(args.dst_dir)):
        parser.exit(2, f'error: DST_DIR {args.dst_dir} is (or looks like) a file: '
                       'ucf101_json writes ucf101_01.json ... ucf101_03.json into a folder; '
                       'give the folder\n')
    if args.dst_dir:
        os.makedirs(args.dst_dir, exist_ok=True)
    index = os.path.join(args.dir, 'classInd.txt')
    if not os.path.isfile(index):
        sys.exit(f'error: no classInd.txt in {args.dir}: give the folder of the split lists '
                 '(ucfTrainTestlist)')
    written = 0
    try:
        labels = class_names(index)
        for split in (1, 2, 3):
            train = os.path.join(args.dir, f'trainlist0{split}.txt')
            test = os.path.join(args.dir, f'testlist0{split}.txt')
            if not (os.path.exists(train) and os.path.exists(test)):
                continue
            database = split_database(train, test, labels)
            if args.video_path:
                add_segments(database, args.video_path)
            path = os.path.join(args.dst_dir or args.dir, f'ucf101_0{split}.json')
            with open(path, 'w') as f:
                json.dump({'labels': labels, 'database': database}, f)
            print(f'wrote {path}: {len(labels)} classes, {len(database)} videos')
            written += 1
    except ListError as e:
        sys.exit(f'error: {e}')
    if not written:
        sys.exit(f'error: no trainlist0N.txt and testlist0N.txt pair in {args.dir}')


if __name__ == '__main__':
    main()
