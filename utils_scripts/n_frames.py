"""Write `n_frames` (the largest frame number, 0 if none) into every video folder of
DIR/<class>/<video>."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datasets.names import frame_numbers  # noqa: E402


def count_frames(video_dir):
    return max(frame_numbers(video_dir), default=0)


def write_n_frames(root):
    """Returns the number of video folders written."""
    written = 0
    for class_name in sorted(os.listdir(root)):
        class_dir = os.path.join(root, class_name)
        if not os.path.isdir(class_dir):
            continue
        for video in sorted(os.listdir(class_dir)):
            video_dir = os.path.join(class_dir, video)
            if not os.path.isdir(video_dir) or video.endswith('.partial'):
                continue
            with open(os.path.join(video_dir, 'n_frames'), 'w') as f:
                f.write(str(count_frames(video_dir)))
            written += 1
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('dir', help='folder of class folders of frame folders')
    args = parser.parse_args(argv)
    if not os.path.isdir(args.dir):
        parser.exit(2, f'error: no such folder: {args.dir}\n')
    written = write_n_frames(args.dir)
    if not written:
        sys.exit(f'error: no frame folders in {args.dir}/<class>/<video>: give the folder of '
                 'class folders that utils_scripts/video_jpg*.py wrote')
    print(f'wrote n_frames in {written} video folders')


if __name__ == '__main__':
    main()
