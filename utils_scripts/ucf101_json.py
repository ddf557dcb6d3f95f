"""UCF-101 annotation JSONs ucf101_01..03.json from classInd.txt and the split lists.

    python utils_scripts/ucf101_json.py DIR    # DIR holds classInd.txt, trainlist0N.txt, ...

Training lists give the `training` subset, test lists `validation`.
"""
import argparse
import json
import os


def read_lines(path):
    with open(path, encoding='utf-8') as f:
        return [line.split() for line in f if line.strip()]


def split_database(train_list, test_list):
    database = {}
    for path, subset in ((train_list, 'training'), (test_list, 'validation')):
        for fields in read_lines(path):
            class_name, file_name = fields[0].split('/')
            database[os.path.splitext(file_name)[0]] = {
                'subset': subset, 'annotations': {'label': class_name}}
    return database


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dir', help='folder of classInd.txt, trainlist0N.txt, testlist0N.txt')
    args = parser.parse_args(argv)
    labels = [fields[1] for fields in read_lines(os.path.join(args.dir, 'classInd.txt'))]
    for split in (1, 2, 3):
        train = os.path.join(args.dir, f'trainlist0{split}.txt')
        test = os.path.join(args.dir, f'testlist0{split}.txt')
        if not (os.path.exists(train) and os.path.exists(test)):
            continue
        path = os.path.join(args.dir, f'ucf101_0{split}.json')
        with open(path, 'w') as f:
            json.dump({'labels': labels, 'database': split_database(train, test)}, f)
        print(f'wrote {path}')


if __name__ == '__main__':
    main()
