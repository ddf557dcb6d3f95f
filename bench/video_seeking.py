"""What finding clips by scanning costs against seeking by time, and what the index's reading
of a video costs, on generated H.264 videos (needs ffmpeg):

    python bench/video_seeking.py [--seconds 10 60] [--rounds 5] [--repeats 30]

For each length: a 320x240 30 fps video (a key frame every 16 frames, as video_reencode.py
writes them) in .mp4 and .mkv. Per round, interleaved: the index's reading of the file
(scan_video: header and packets) against opening it as inference.py does (VideoFile, exact
mode); a random 16-frame training clip with the decoder opened by time (approximate) against
opened by scanning (exact), as OpenVideo opens one for each clip of another video. Medians of
the rounds, milliseconds.
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datasets.video_files import VideoFile, scan_video  # noqa: E402


def make_video(path, seconds):
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    'testsrc2=size=320x240:rate=30', '-t', str(seconds), '-c:v', 'libx264',
                    '-g', '16', '-pix_fmt', 'yuv420p', path], check=True)


def clip(path, mode, n_frames, rng):
    from torchcodec.decoders import VideoDecoder
    decoder = VideoDecoder(path, dimension_order='NHWC', num_ffmpeg_threads=1, seek_mode=mode)
    start = rng.randrange(0, n_frames - 16)
    decoder.get_frames_in_range(start, start + 16)


def timed(work, repeats):
    begin = time.perf_counter()
    for _ in range(repeats):
        work()
    return (time.perf_counter() - begin) / repeats * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=int, nargs='+', default=[10, 60])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--repeats', type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        videos = []
        for seconds in args.seconds:
            for ext in ('mp4', 'mkv'):
                path = os.path.join(folder, f'{seconds}s.{ext}')
                make_video(path, seconds)
                videos.append(path)
        print('ms, median of rounds   index reads  VideoFile opens  clip by time  clip scanning')
        for path in videos:
            facts = scan_video(path)
            rng = random.Random(0)
            rows = []
            for _ in range(args.rounds):
                rows.append((timed(lambda: scan_video(path), args.repeats),
                             timed(lambda: VideoFile(path), args.repeats),
                             timed(lambda: clip(path, 'approximate', facts.n_frames, rng),
                                   args.repeats),
                             timed(lambda: clip(path, 'exact', facts.n_frames, rng),
                                   args.repeats)))
            medians = [statistics.median(column) for column in zip(*rows)]
            print(f'{os.path.basename(path):22s}' + ''.join(f'{m:14.2f}' for m in medians)
                  + f'   (seeks by time: {facts.by_time})')


if __name__ == '__main__':
    main()
