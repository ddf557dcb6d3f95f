"""Frames of a flat folder of videos (ActivityNet; .mp4 or any other video file), 360 pixels
high.

    python utils_scripts/video_jpg.py SRC DST    # SRC/name.mp4 -> DST/name/image_%05d.jpg
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from frames import VIDEO_EXTENSIONS, main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(__doc__.split('\n\n')[0].replace('\n', ' '), VIDEO_EXTENSIONS,
                  360, class_folders=False))
