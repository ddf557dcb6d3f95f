"""Write `fps` (frames on disk / duration from ffprobe, 2 decimals) into each ActivityNet
frame folder.

    python utils_scripts/fps.py SRC DST    # SRC/name.mp4, frames in DST/name/
"""
import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datasets.names import frame_numbers  # noqa: E402


def duration(video):
    done = subprocess.run(['ffprobe', '-v', 'error', '-show_entries', 'format=duration',
                           '-of', 'default=noprint_wrappers=1:nokey=1', video],
                          capture_output=True, text=True)
    try:
        return float(done.stdout.strip())
    except ValueError:
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='folder of .mp4 videos')
    parser.add_argument('dst', help='folder of their frame folders')
    args = parser.parse_args(argv)
    for folder in (args.src, args.dst):
        if not os.path.isdir(folder):
            parser.exit(2, f'error: no such folder: {folder}\n')
    if shutil.which('ffprobe') is None:
        parser.exit(2, 'error: ffprobe is not installed (apt-get install ffmpeg)\n')
    written, failed = 0, []
    for file_name in sorted(os.listdir(args.src)):
        name, ext = os.path.splitext(file_name)
        frames = os.path.join(args.dst, name)
        if ext.lower() != '.mp4' or not os.path.isdir(frames):
            continue
        seconds = duration(os.path.join(args.src, file_name))
        if not seconds:
            failed.append(file_name)
            continue
        n_frames = len(frame_numbers(frames))
        with open(os.path.join(frames, 'fps'), 'w') as f:
            f.write(f'{round(n_frames / seconds, 2)}\n')
        written += 1
    print(f'wrote fps for {written} videos' + (f'; no duration for {len(failed)}: '
                                               f'{", ".join(failed)}' if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
