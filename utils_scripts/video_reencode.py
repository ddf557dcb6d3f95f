"""Rewrite a collection of videos for training straight from video files (main.py
--video_path on the result): short side scaled to --short_side pixels (240, as the Kinetics
frame preparation), a key frame every --key_every frames (a random clip then decodes at most
that many frames before its first), H.264 tuned for fast decoding (x264's `fastdecode`: no
CABAC, no deblocking filter; clips decode faster for a little more disk: bench/RESULTS.md),
audio dropped. The folder layout is kept (SRC/<label>/<name>.<ext> -> DST/<label>/<name>.mp4,
or a flat folder for ActivityNet).

    python utils_scripts/video_reencode.py SRC DST [--short_side 240] [--key_every 16]

Resumable and parallel as the frame extractors: a video is written to <name>.partial.mp4 and
renamed when ffmpeg succeeded; a second run skips the videos already written.
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datasets.names import VIDEO_EXTENSIONS  # noqa: E402
from utils_scripts.frames import clash, run_ffmpeg, run_jobs, video_jobs  # noqa: E402


X264_PRESETS = ('ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow',
                'slower', 'veryslow', 'placebo')
X264_TUNES = ('film', 'animation', 'grain', 'stillimage', 'psnr', 'ssim', 'fastdecode',
              'zerolatency')


def x264_tune(value):
    """--tune's value: 'none', or x264 tunes joined by commas (e.g. film,fastdecode)."""
    if value == 'none':
        return value
    unknown = [t for t in value.split(',') if t not in X264_TUNES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown x264 tune {unknown[0]!r}: choose from {', '.join(X264_TUNES)}, "
            "joined by commas, or 'none'")
    return value


def short_side_filter(size):
    """ffmpeg's scale filter giving the shorter side `size` pixels and the other side the
    nearest even number keeping the aspect ratio (H.264 in 4:2:0 needs even sides)."""
    return (f"scale=w='if(lte(iw\\,ih)\\,{size}\\,-2)':h='if(lte(iw\\,ih)\\,-2\\,{size})'")


def reencode(video, target, short_side, key_every, crf, preset, tune='fastdecode'):
    """Write `video` to `target` (.mp4); an error message, or None on success."""
    partial = target[:-len('.mp4')] + '.partial.mp4'
    tuning = [] if tune == 'none' else ['-tune', tune]
    error = run_ffmpeg(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-i', video,
                        '-map', '0:v:0', '-vf', short_side_filter(short_side),
                        '-c:v', 'libx264', '-preset', preset, *tuning, '-crf', str(crf),
                        '-fps_mode', 'passthrough',  # every frame once, as decoded (VFR kept)
                        '-pix_fmt', 'yuv420p', '-g', str(key_every), '-keyint_min',
                        str(key_every), '-sc_threshold', '0', '-an', '-movflags', '+faststart',
                        partial])
    if error or not os.path.isfile(partial):
        if os.path.exists(partial):
            os.remove(partial)
        return error or 'ffmpeg wrote nothing'
    os.replace(partial, target)
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='folder of videos (class folders, or flat)')
    parser.add_argument('dst', help='folder to write the re-encoded videos to')
    parser.add_argument('--short_side', type=int, default=240,
                        help='pixels of the shorter side (default 240)')
    parser.add_argument('--key_every', type=int, default=16,
                        help='frames between key frames (default 16, a clip\'s length)')
    parser.add_argument('--crf', type=int, default=23,
                        help="x264's constant rate factor: lower is better and larger "
                             '(default 23)')
    parser.add_argument('--preset', default='fast', choices=X264_PRESETS,
                        help="x264's preset: slower is smaller (default fast)")
    parser.add_argument('--tune', default='fastdecode', type=x264_tune,
                        help="x264's tuning (default fastdecode: decodes faster for a little "
                             "more disk; 'none' for x264's default)")
    parser.add_argument('--n_jobs', type=int, default=os.cpu_count() or 1,
                        help='videos encoded at once (default: all cores)')
    args = parser.parse_args(argv)
    for name in ('short_side', 'key_every'):
        if getattr(args, name) < 1:
            parser.error(f'argument --{name}: must be at least 1, got {getattr(args, name)}')
    if not 0 <= args.crf <= 51:
        parser.error(f'argument --crf: must be in 0 ... 51, got {args.crf}')
    if not os.path.isdir(args.src):
        parser.exit(2, f'error: no such folder: {args.src}\n')
    if shutil.which('ffmpeg') is None:
        parser.exit(2, 'error: ffmpeg is not installed (apt-get install ffmpeg, or '
                       'make install)\n')
    class_folders = any(entry.is_dir() for entry in os.scandir(args.src))
    jobs = [(video, target + '.mp4') for video, target in
            video_jobs(args.src, args.dst, VIDEO_EXTENSIONS, class_folders)]
    if not jobs:
        parser.exit(2, f'error: no videos in {args.src}\n')
    if clash(jobs):
        parser.exit(2, f'error: {clash(jobs)}\n')

    def work(video, target):
        return reencode(video, target, args.short_side, args.key_every, args.crf, args.preset,
                        args.tune)

    return run_jobs(jobs, work, os.path.isfile, max(1, args.n_jobs), 're-encoded')


if __name__ == '__main__':
    sys.exit(main())
