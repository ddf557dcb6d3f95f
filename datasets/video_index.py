"""Frame counts, frame rates and frame sizes of a folder of video files (or frame counts of
HDF5 files), cached beside the annotation file.

Opening a video to count its frames takes milliseconds; a Kinetics-size collection has 650k
of them. The first start reads every file (in parallel processes) and writes what it found
to `<annotation file>.videos-<hash of the video folder>.npz`; later starts only compare each
file's size and modification time with the cache (`os.stat`, seconds for 650k files) and
read again the files that changed. A video that cannot be read is kept in the cache with its
reason, and read again once it changes.
"""
import hashlib
import os
import sys
import zipfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from datasets.string_table import StringTable
from datasets.decoding_errors import VideoError
from datasets.hdf5_videos import HDF5_EXTENSION
from datasets.video_files import scan_video
from datasets.names import VIDEO_EXTENSIONS
from utils import UserError, one_line, write_atomically

CACHE_VERSION = 5  # 3: frame sizes; 4: MPEG streams refused; 5: whether seeking by time


def find_video_files(root, names, extensions=VIDEO_EXTENSIONS):
    """{name: path of the video file `root/name.<ext>`} for the names that have one (ext one
    of `extensions`), found by listing each folder once (not by trying every extension)."""
    by_folder = {}
    for name in names:
        by_folder.setdefault(os.path.dirname(name), []).append(name)
    found = {}
    for folder, members in by_folder.items():
        try:
            entries = os.listdir(os.path.join(root, folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        stems = {}
        for entry in sorted(entries):  # the first extension in name order wins
            stem, ext = os.path.splitext(entry)
            if ext.lower() in extensions:
                stems.setdefault(stem, entry)
        for name in members:
            entry = stems.get(os.path.basename(name))
            if entry is not None:
                found[name] = os.path.join(root, folder, entry)
    return found


def input_kind(root, names, sample=20):
    """What `root` holds for the first `sample` names found there either way: 'frames'
    (folders), 'hdf5' (`name.hdf5` files) or 'videos'; None when none of them is there."""
    for name in names[:sample]:
        if os.path.isdir(os.path.join(root, name)):
            return 'frames'
        if os.path.isfile(os.path.join(root, name + HDF5_EXTENSION)):
            return 'hdf5'
        if find_video_files(root, [name]):
            return 'videos'
    return None


def read_video_facts(path):
    """(number of frames, frame rate, width, height, whether it can be sought by time, '')
    of a video file, or (0, 0, 0, 0, False, reason)."""
    try:
        return tuple(scan_video(path)) + ('',)
    except VideoError as e:
        return 0, 0.0, 0, 0, False, e.reason


def cache_path(annotation_path, root, kind='videos'):
    key = hashlib.sha1(os.path.abspath(root).encode('utf-8')).hexdigest()[:10]
    return f'{annotation_path}.{kind}-{key}.npz'


def load_cache(path):
    """{relative path: (size, mtime_ns, n_frames, fps, width, height, by_time, error)} of a cache
    file; empty when there is none or it cannot be read (it is then rebuilt)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data['version']) != CACHE_VERSION:
                return {}
            names = StringTable.from_arrays(data['names'], data['name_offsets'])
            errors = StringTable.from_arrays(data['errors'], data['error_offsets'])
            columns = zip(data['size'].tolist(), data['mtime'].tolist(),
                          data['n_frames'].tolist(), data['fps'].tolist(),
                          data['width'].tolist(), data['height'].tolist(),
                          data['by_time'].tolist(), errors)
            return dict(zip(names, columns))
    except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile):
        return {}  # UnicodeDecodeError is a ValueError


def save_cache(path, entries):
    names = sorted(entries)
    rows = [entries[n] for n in names]
    # Strings as UTF-8 bytes and offsets: a fixed-width unicode array would take 4 bytes per
    # character of the longest path, for every path.
    names, errors = StringTable(names), StringTable([r[7] for r in rows])
    arrays = dict(version=np.array(CACHE_VERSION), names=names.data,
                  name_offsets=names.offsets,
                  size=np.array([r[0] for r in rows], dtype=np.int64),
                  mtime=np.array([r[1] for r in rows], dtype=np.int64),
                  n_frames=np.array([r[2] for r in rows], dtype=np.int64),
                  fps=np.array([r[3] for r in rows], dtype=np.float64),
                  width=np.array([r[4] for r in rows], dtype=np.int32),
                  height=np.array([r[5] for r in rows], dtype=np.int32),
                  by_time=np.array([r[6] for r in rows], dtype=bool),
                  errors=errors.data, error_offsets=errors.offsets)
    try:
        write_atomically(path, lambda f: np.savez(f, **arrays), 'the video index')
    except UserError as e:  # a read-only annotation folder: the index is rebuilt next time
        print(f'warning: {e}; going on without a cache', file=sys.stderr)


def index_videos(files, root, annotation_path, n_workers=None, read=None, kind='videos'):
    """{name: (n_frames, fps, width, height, by_time, error)} for `files` ({name: path}), from the
    cache where the file is unchanged and by reading it (`read(path)`) otherwise; the cache
    (one per `kind` of file) is updated when anything was read. `read` defaults to
    read_video_facts."""
    read = read or read_video_facts
    path = cache_path(annotation_path, root, kind)
    cached = load_cache(path)
    result, stale = {}, []
    for name, file in files.items():
        relative = os.path.relpath(file, root)
        try:
            stat = os.stat(file)
        except OSError as e:
            result[name] = (0, 0.0, 0, 0, False, one_line(e, 120))  # a broken link
            continue
        entry = cached.get(relative)
        if entry is not None and entry[:2] == (stat.st_size, stat.st_mtime_ns):
            result[name] = entry[2:]
        else:
            stale.append((name, file, relative, stat))
    if stale:
        workers = min(len(stale), n_workers or os.cpu_count() or 1)
        if len(stale) > 200:
            print(f'reading the frame counts of {len(stale)} videos under {root} '
                  f'({workers} processes; cached for the next start)', file=sys.stderr)
        paths = [file for _, file, _, _ in stale]
        if workers > 1 and len(stale) >= 32:  # fewer: not worth starting processes
            try:
                with ProcessPoolExecutor(workers) as pool:
                    counts = list(pool.map(read, paths, chunksize=16))
            except BrokenProcessPool:
                raise UserError(f'a process reading the videos under {root} died (FFmpeg '
                                'crashed on a file, or memory ran out): find the file with '
                                'ffprobe, or move it away, and start again') from None
        else:
            counts = [read(p) for p in paths]
        for (name, _, relative, stat), count in zip(stale, counts):
            result[name] = count
            cached[relative] = (stat.st_size, stat.st_mtime_ns) + count
        save_cache(path, cached)
    return result
