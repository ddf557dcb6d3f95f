"""The 2020 release's annotation segments: each video's frames as [1, n_frames + 1], counted
in its frame folder (`<video_path>/<label>/<key>`, unlabelled videos in `test/<key>`), or as
[0, n_frames) for an HDF5 file (`<key>.hdf5` there: the release numbers its entries from 0),
as its annotation builders write them (main.py --recipe 2020 reads them instead of n_frames
files). The release's own UCF-101 and HMDB-51 builders write [1, n + 1) for HDF5 files too,
one frame past the end: here each video's segment follows what is on disk.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datasets.hdf5_videos import HDF5_EXTENSION, count_frames  # noqa: E402
from datasets.names import frame_numbers  # noqa: E402


def segment_on_disk(path, video_type=None):
    """[first, end) of the video at `path` (without extension): its frame folder's or its
    HDF5 file's (`video_type` 'jpg' or 'hdf5': only that kind), or None."""
    if video_type != 'jpg' and os.path.isfile(path + HDF5_EXTENSION):
        n, *_, error = count_frames(path + HDF5_EXTENSION)
        if error:  # a flow file counts its u frames
            n, *_, error = count_frames(path + HDF5_EXTENSION, flow=True)
        if error:
            print(f'skipped {path + HDF5_EXTENSION}: {error}', file=sys.stderr)
        return [0, n] if n else None
    if video_type != 'hdf5' and os.path.isdir(path):
        n = len(frame_numbers(path))
        return [1, n + 1] if n else None
    return None


def add_segments(database, video_path, video_type=None):
    """Give every entry whose frame folder or HDF5 file exists its segment (`video_type`:
    only that kind); returns how many have none (nothing there, or no frames), which
    main.py skips."""
    if not os.path.isdir(video_path):
        sys.exit(f'error: no such folder: {video_path} (the frame folders or HDF5 files, to '
                 'count frames)')
    missing = 0
    for key, entry in database.items():
        annotations = entry.setdefault('annotations', {})
        segment = segment_on_disk(os.path.join(video_path, annotations.get('label', 'test'),
                                               key), video_type)
        if segment:
            annotations['segment'] = segment
        else:
            annotations.pop('segment', None)
            missing += 1
    if missing:
        print(f'note: {missing} of {len(database)} videos have no frames under {video_path} '
              '(<label>/<key>/image_00001.jpg ... or <label>/<key>.hdf5): they have no '
              'segment, and main.py --recipe 2020 skips them')
    return missing
