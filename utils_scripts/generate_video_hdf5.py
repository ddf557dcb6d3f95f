"""Videos as HDF5 files, as the 2020 release writes them: the frames extracted as
generate_video_jpgs.py extracts them (the shorter side scaled to --size, at the video's own
rate or, with --fps, motion-interpolated), each JPEG's bytes one entry of the file's
`video` dataset, in frame order.

    python -m utils_scripts.generate_video_hdf5 SRC DST DATASET [--n_jobs -1] [--fps -1]
        [--size 240]

DATASET activitynet: SRC/<name>.<ext> -> DST/<name>.hdf5; the others (kinetics, mit, ucf101,
hmdb51): SRC/<class>/<name>.<ext> -> DST/<class>/<name>.hdf5 (Kinetics' test videos in
SRC/test/). Any video extension is taken (the release took .mp4 or .avi by dataset).
Resumable: a file is written beside its place and renamed when complete, so a file there is
whole and is not written again; a failed video is named and counted.
"""
import importlib.util
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from frames import extract, run_jobs  # noqa: E402
from generate_video_jpgs import release_arguments  # noqa: E402
from hdf5_files import numbered, write_video_hdf5  # noqa: E402

HDF5 = '.hdf5'


def to_hdf5(video, target, video_filter):
    """Extract `video`'s frames beside `target`.hdf5, pack them into it, remove them; an
    error message, or None."""
    frames = target + '.hdf5-frames'  # (a name no frame folder has)
    try:
        # One encoding thread, as the release's: the same JPEG bytes.
        error = extract(video, frames, None, video_filter, output_options=('-threads', '1'))
        if error:
            return error
        names = numbered(n for n in os.listdir(frames) if n.endswith('.jpg'))
        write_video_hdf5(target + HDF5, {'video': [os.path.join(frames, n) for n in names]})
        return None
    except OSError as e:
        return f'could not write {target + HDF5}: {e.strerror or e}'
    finally:
        shutil.rmtree(frames, ignore_errors=True)


def main(argv=None):
    parser, _, jobs, video_filter, n_jobs = release_arguments(__doc__.splitlines()[0],
                                                              'HDF5 files', argv)
    if importlib.util.find_spec('h5py') is None:
        parser.exit(2, 'error: h5py is not installed (pip install -r requirements.txt)\n')
    return run_jobs(jobs, lambda video, target: to_hdf5(video, target, video_filter),
                    lambda target: os.path.isfile(target + HDF5), n_jobs, 'converted')


if __name__ == '__main__':
    sys.exit(main())
