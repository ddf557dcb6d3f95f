"""Frames of videos as the 2020 release extracts them: the shorter side scaled to 240 pixels
(--size), at the video's own rate or, with --fps, motion-interpolated to another.

    python -m utils_scripts.generate_video_jpgs SRC DST DATASET [--size 240] [--fps -1]

DATASET activitynet: SRC/<name>.<ext> -> DST/<name>/image_%05d.jpg; the others (kinetics,
mit, ucf101, hmdb51): SRC/<class>/<name>.<ext> -> DST/<class>/<name>/ (Kinetics' test
videos in SRC/test/). Any video extension is taken (the release took .mp4 or .avi by
dataset). Resumable as the other extraction programs (frames.py).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from frames import VIDEO_EXTENSIONS, checked_jobs, extract, is_done, run_jobs  # noqa: E402

DATASETS = ('kinetics', 'mit', 'ucf101', 'hmdb51', 'activitynet')


def shorter_side_filter(size, fps):
    """ffmpeg's filter: a landscape frame `size` high, any other `size` wide (the other
    side keeping the aspect ratio); then the rate, interpolated, when fps > 0."""
    landscape = 'gt(iw,ih)'
    scale = f"scale=w='if({landscape},-1,{size})':h='if({landscape},{size},-1)'"
    return scale + (f',minterpolate={fps}' if fps > 0 else '')


def release_arguments(description, written, argv):
    """The release's generators' arguments (SRC DST DATASET --n_jobs --fps --size), `written`
    naming what DST receives: (the parser, the arguments, the jobs, ffmpeg's filter, the
    jobs at once); a mistake exits in one line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='folder of videos')
    parser.add_argument('dst', help=f'folder of {written} to write')
    parser.add_argument('dataset', choices=DATASETS)
    parser.add_argument('--n_jobs', type=int, default=-1,
                        help='videos done at once (-1: all cores)')
    parser.add_argument('--fps', type=int, default=-1,
                        help='frame rate of the frames (-1: the video\'s own)')
    parser.add_argument('--size', type=int, default=240,
                        help='the shorter side of the frames, in pixels')
    args = parser.parse_args(argv)
    if args.size < 1:
        parser.exit(2, f'error: --size {args.size}: give a positive number of pixels\n')
    jobs = checked_jobs(parser, args.src, args.dst, VIDEO_EXTENSIONS,
                        class_folders=args.dataset != 'activitynet')
    n_jobs = (os.cpu_count() or 1) if args.n_jobs < 1 else args.n_jobs
    return parser, args, jobs, shorter_side_filter(args.size, args.fps), n_jobs


def main(argv=None):
    _, _, jobs, video_filter, n_jobs = release_arguments(__doc__.splitlines()[0],
                                                         'frame folders', argv)
    return run_jobs(jobs, lambda video, folder: extract(video, folder, None, video_filter),
                    is_done, n_jobs, 'extracted')


if __name__ == '__main__':
    sys.exit(main())
