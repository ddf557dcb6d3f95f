"""inference.py's outputs, kept resumable: one part a video (OUT/.parts/NAME.json, and
OUT/NAME.npy in feature mode), written as soon as the video is done, and the summary over
every part done with the same settings (results.json or features.json, failed.txt)."""
import hashlib
import json
import os
import sys

import numpy as np

from datasets.clip_stream import Source
from utils import counted, write_atomically, write_text_atomically

PARTS = '.parts'  # OUT/.parts/NAME.json: what was found for one video (the resumable unit)


def output_settings(checkpoint_path, class_names, mode, **decided):
    """What decides a video's outputs: the checkpoint (its first MiB), the class names,
    the mode ('score' or 'feature') and what inference.py `decided` (the recipe, the model,
    the clips, the windows): a video done with other settings is done again."""
    with open(checkpoint_path, 'rb') as f:
        checkpoint = hashlib.sha1(f.read(1 << 20)).hexdigest()
    names = hashlib.sha1('\n'.join(class_names or []).encode('utf-8', 'surrogateescape'))
    return dict(decided, mode=mode, checkpoint=checkpoint, class_names=names.hexdigest())


def parts_done(output, settings):
    """{video name: part} of every video done in `output` with these settings, by this run
    or earlier ones (whatever inputs they were given)."""
    folder = os.path.join(output, PARTS)
    done = {}
    for parent, _, files in os.walk(folder):
        for file in sorted(files):
            if file.endswith('.json'):
                name = os.path.relpath(os.path.join(parent, file), folder)[:-len('.json')]
                part = read_part(output, Source(name, '', False), settings)
                if part is not None:
                    done[name] = part
    return dict(sorted(done.items()))


def part_path(output, source):
    return os.path.join(output, PARTS, source.name + '.json')


def read_part(output, source, settings):
    """The stored result of a video done with these settings, else None."""
    try:
        with open(part_path(output, source), encoding='utf-8') as f:
            part = json.load(f)
    except (OSError, ValueError):
        return None
    if part.get('settings') != json.loads(json.dumps(settings)):
        return None
    if settings['mode'] == 'feature' and not os.path.isfile(
            os.path.join(output, part.get('file', ''))):
        return None
    return part


def write_part(output, source, part, settings):
    path = part_path(output, source)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_text_atomically(path, json.dumps(dict(part, settings=settings)))


def save_features(output, source, rows):
    """OUT/NAME.npy, written atomically."""
    file = source.name + '.npy'
    path = os.path.join(output, file)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomically(path, lambda f: np.save(f, rows), 'features')
    return file


def write_summary(sources, settings, failed, output):
    """results.json or features.json over every video done (this run's and earlier ones'),
    and failed.txt listing the videos that could not be read (removed when none)."""
    done = parts_done(output, settings)
    if settings['mode'] == 'score':
        summary = {'results': {name: part['results'] for name, part in done.items()},
                   'clips': {name: part['clips'] for name, part in done.items()}}
        path = os.path.join(output, 'results.json')
    else:
        summary = {name: {key: part[key] for key in ('file', 'segments', 'fps')}
                   for name, part in done.items()}
        path = os.path.join(output, 'features.json')
    write_text_atomically(path, json.dumps(summary))
    failed_path = os.path.join(output, 'failed.txt')
    if failed:
        # One path a line, as the file system names it (bytes that are not UTF-8 kept); a
        # line break inside a name written as \n.
        lines = ''.join(os.path.abspath(p).replace('\n', '\\n') + '\n' for p in failed)
        write_atomically(failed_path, lambda f: f.write(lines.encode('utf-8', 'surrogateescape')))
        print(f'{len(failed)} of {counted(len(sources), "video")} could not be read: listed in '
              f'{failed_path}', file=sys.stderr)
    elif os.path.exists(failed_path):
        os.remove(failed_path)
    print(f'wrote {path} ({counted(len(done), "video")})', flush=True)
