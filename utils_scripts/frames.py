"""Shared by the frame-extraction programs (and video_reencode.py): run ffmpeg on many
videos, in parallel, resumably.

A video's frames are written to `<name>.partial/` and the folder is renamed to `<name>/` only
when ffmpeg succeeded, so a finished video is one whose folder exists (folders made by the
reference's scripts, holding image_00001.jpg, count as finished too), and an interrupted one
is redone from scratch on the next run.
"""
import argparse
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datasets.decoding_errors import ffmpeg_failure  # noqa: E402
from datasets.names import FRAME_FILE_FFMPEG, VIDEO_EXTENSIONS, frame_path  # noqa: E402,F401
from utils import bar_fits, counted  # noqa: E402

# The ffmpeg processes running, so that a stop request ends them at once.
RUNNING = set()
RUNNING_LOCK = threading.Lock()


def is_done(folder):
    return os.path.isfile(frame_path(folder, 1))


def extract(video, folder, height, video_filter=None, output_options=()):
    """Frames of `video` as folder/image_%05d.jpg at `height` pixels (or through ffmpeg's
    `video_filter`; `output_options`: more of ffmpeg's). Returns an error message, or None
    on success."""
    partial = folder + '.partial'
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    # '%' is ffmpeg's pattern character in output names: escape it in the folder part.
    pattern = os.path.join(partial.replace('%', '%%'), FRAME_FILE_FFMPEG)
    # Every decoded frame once (passthrough): ffmpeg's default for image output would repeat
    # frames to a constant rate, so that a variable-rate video (a phone's) got more frames
    # here than main.py and inference.py count in the file itself.
    error = run_ffmpeg(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-i', video,
                        '-vf', video_filter or f'scale=-1:{height}', '-fps_mode', 'passthrough',
                        *output_options, pattern])
    if error or not is_done(partial):
        shutil.rmtree(partial, ignore_errors=True)
        return error or 'ffmpeg wrote no frames'
    shutil.rmtree(folder, ignore_errors=True)  # a leftover without frames
    os.replace(partial, folder)
    return None


def video_jobs(src_dir, dst_dir, extensions, class_folders):
    """(video file, frame folder) pairs, sorted: SRC/*.ext -> DST/name, or with class
    folders SRC/class/*.ext -> DST/class/name."""
    groups = sorted(d for d in os.listdir(src_dir) if os.path.isdir(os.path.join(src_dir, d))) \
        if class_folders else ['']
    jobs = []
    for group in groups:
        for file_name in sorted(os.listdir(os.path.join(src_dir, group))):
            name, ext = os.path.splitext(file_name)
            if ext.lower() in extensions:
                jobs.append((os.path.join(src_dir, group, file_name),
                             os.path.join(dst_dir, group, name)))
    return jobs


def clash(jobs):
    """A line naming two videos that would be written to the same place (clip.mp4 and
    clip.webm in one folder), or None: run at once, they would overwrite each other."""
    sources = {}
    for video, target in jobs:
        if target in sources:
            return (f'{sources[target]} and {video} would both be written to {target}: '
                    'rename or move one of them, then run again')
        sources[target] = video
    return None


def run_ffmpeg(command):
    """Run an ffmpeg command; what went wrong in plain words (None on success)."""
    try:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True, errors='replace')
    except FileNotFoundError:
        return 'ffmpeg is not installed (apt-get install ffmpeg, or make install)'
    with RUNNING_LOCK:
        RUNNING.add(process)
    try:
        _, stderr = process.communicate()
    finally:
        with RUNNING_LOCK:
            RUNNING.discard(process)
    if process.returncode == 0:
        return None
    return ffmpeg_failure(stderr, process.returncode)


def stop_running():
    """End the ffmpeg processes still running (their unfinished outputs are removed by the
    jobs, and redone by the next run)."""
    with RUNNING_LOCK:
        for process in RUNNING:
            process.kill()


def run_all(jobs, height, n_jobs):
    """Extract every job not done yet; print a summary; return the exit status."""
    return run_jobs(jobs, lambda video, folder: extract(video, folder, height), is_done,
                    n_jobs, 'extracted')


def run_jobs(jobs, work, done, n_jobs, verb):
    """work(source, destination) for every job whose destination is not `done` yet, `n_jobs`
    at a time (each runs ffmpeg, so threads suffice); print a summary and the failures;
    return the exit status."""
    todo = [(video, target) for video, target in jobs if not done(target)]
    for folder in {os.path.dirname(t) for _, t in todo}:
        os.makedirs(folder, exist_ok=True)
    failures, finished = [], 0
    pool = ThreadPoolExecutor(max_workers=n_jobs)
    try:
        futures = {pool.submit(work, video, target): video for video, target in todo}
        for future in tqdm(as_completed(futures), total=len(futures), unit='video',
                           disable=not todo or not bar_fits(), file=sys.stderr):
            error = future.result()
            finished += 1
            if error:
                failures.append((futures[future], error))
    except KeyboardInterrupt:
        # The queue is dropped and the running ffmpeg processes ended: a thread pool would
        # otherwise work through every video left before the program could exit.
        pool.shutdown(wait=False, cancel_futures=True)
        stop_running()
        try:
            pool.shutdown(wait=True)
        except KeyboardInterrupt:  # a second Ctrl-C: the processes are ending already
            pass
        print(f'stopped: {counted(finished - len(failures), "video")} {verb} in this run; '
              'the unfinished ones are redone by the next run', file=sys.stderr)
        return 130
    pool.shutdown()
    print(f'{counted(len(todo) - len(failures), "video")} {verb}, '
          f'{len(jobs) - len(todo)} already done, {len(failures)} failed')
    for video, error in sorted(failures):
        print(f'failed: {video}: {error}')
    return 1 if failures else 0


def main(description, extensions, height, class_folders, argv=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='folder of videos')
    parser.add_argument('dst', help='folder of frame folders to write')
    parser.add_argument('--n_jobs', type=int, default=os.cpu_count() or 1,
                        help='videos extracted at once (default: all cores)')
    parser.add_argument('--height', type=int, default=height, help='frame height in pixels')
    args = parser.parse_args(argv)
    jobs = checked_jobs(parser, args.src, args.dst, extensions, class_folders)
    return run_all(jobs, args.height, max(1, args.n_jobs))


def checked_jobs(parser, src, dst, extensions, class_folders):
    """video_jobs(...), after checking that there is work ffmpeg can do (exits in one line
    where there is not)."""
    if not os.path.isdir(src):
        parser.exit(2, f'error: no such folder: {src}\n')
    if shutil.which('ffmpeg') is None:
        parser.exit(2, 'error: ffmpeg is not installed (apt-get install ffmpeg, or '
                       'make install)\n')
    jobs = video_jobs(src, dst, extensions, class_folders)
    if not jobs:
        parser.exit(2, f'error: no videos ({", ".join(extensions)}) in {src}' +
                    (' or its class folders' if class_folders else '') + '\n')
    if clash(jobs):
        parser.exit(2, f'error: {clash(jobs)}\n')
    return jobs
