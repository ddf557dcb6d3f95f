"""Frames of Kinetics videos (class folders and test/; .mp4 or any other video file), 240
pixels high.

    python utils_scripts/video_jpg_kinetics.py SRC DST  # SRC/class/x.mp4 -> DST/class/x/
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from frames import VIDEO_EXTENSIONS, main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(__doc__.split('\n\n')[0].replace('\n', ' '), VIDEO_EXTENSIONS,
                  240, class_folders=True))
