"""Frames of UCF-101 or HMDB-51 videos (class folders of .avi, .mp4 or any other video file),
240 pixels high.

    python utils_scripts/video_jpg_ucf101_hmdb51.py SRC DST  # SRC/class/x.avi -> DST/class/x/
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from frames import VIDEO_EXTENSIONS, main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(__doc__.split('\n\n')[0].replace('\n', ' '), VIDEO_EXTENSIONS,
                  240, class_folders=True))
