"""HMDB-51 annotation JSONs hmdb51_1..3.json from the `<class>_test_splitN.txt` files.

    python utils_scripts/hmdb51_json.py DIR
    python -m utils_scripts.hmdb51_json DIR JPG_VIDEO_DIR DST_DIR    # the 2020 release's

The second form writes the 2020 release's files into DST_DIR: each video's frames counted in
JPG_VIDEO_DIR/<class>/<key> as a segment [1, n + 1] (--recipe 2020 needs no n_frames files),
or in the HDF5 file <class>/<key>.hdf5 there as [0, n) (the release's numbering).

In a split file, 1 marks a training video, 2 a validation video, 0 an unused one.
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from segments import add_segments  # noqa: E402

SPLIT_FILE = re.compile(r'(.+)_test_split(\d)\.txt$')
SUBSETS = {'1': 'training', '2': 'validation'}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dir', help='folder of the split files')
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
                       'hmdb51_json writes hmdb51_1.json ... hmdb51_3.json into a folder; give the '
                       'folder\n')
    if args.dst_dir:
        os.makedirs(args.dst_dir, exist_ok=True)
    if not os.path.isdir(args.dir):
        sys.exit(f'error: no such folder: {args.dir}')
    splits = {}
    for file_name in sorted(os.listdir(args.dir)):
        match = SPLIT_FILE.match(file_name)
        if match:
            splits.setdefault(match.group(2), []).append((match.group(1), file_name))
    if not splits:
        sys.exit(f'error: no <class>_test_splitN.txt files in {args.dir}: give the folder of '
                 'the split files (testTrainMulti_7030_splits)')
    for split, files in sorted(splits.items()):
        database = {}
        for class_name, file_name in files:
            with open(os.path.join(args.dir, file_name), encoding='utf-8-sig',
                      errors='replace') as f:
                for line in f:
                    fields = line.rsplit(None, 1)  # the file name (spaces allowed), 0/1/2
                    if len(fields) == 2 and fields[1] in SUBSETS:
                        key = os.path.splitext(fields[0])[0]
                        if key in database:
                            sys.exit(f'error: {key} is listed twice in split {split} (in '
                                     f'{file_name} and another class\'s file); a video '
                                     'belongs to one class and subset')
                        database[key] = {'subset': SUBSETS[fields[1]],
                                         'annotations': {'label': class_name}}
        labels = sorted({class_name for class_name, _ in files})
        if args.video_path:
            add_segments(database, args.video_path)
        path = os.path.join(args.dst_dir or args.dir, f'hmdb51_{split}.json')
        with open(path, 'w') as f:
            json.dump({'labels': labels, 'database': database}, f)
        print(f'wrote {path}')


if __name__ == '__main__':
    main()
