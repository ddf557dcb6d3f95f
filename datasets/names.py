"""Names on disk that the datasets and the data-preparation programs (utils_scripts/) share.

Imports nothing heavy: the preparation programs use it without loading torch.
"""
import os
import re

# Frame i (from 1) of a video, in its frame folder; the same as ffmpeg's output pattern.
FRAME_FILE = 'image_{:05d}.jpg'
FRAME_FILE_FFMPEG = 'image_%05d.jpg'
# ASCII digits only, at most nine: a longer run is no frame of ours (and int() refuses
# 4301 digits).
FRAME_FILE_RE = re.compile(r'image_([0-9]{1,9})\.jpg$')

# What a folder search takes for a video file (a file named directly may have any extension).
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.webm', '.mkv', '.mov', '.m4v', '.mpg', '.mpeg', '.flv',
                    '.wmv', '.3gp', '.ts', '.ogv')

# Kinetics keys end in `_%06d_%06d`, the start and end second of the clip in its YouTube
# video; the video id is the key without it (a key without one is the id itself).
KINETICS_TIME_SUFFIX = re.compile(r'_\d{6}_\d{6}$')


def frame_path(video_dir, i):
    return os.path.join(video_dir, FRAME_FILE.format(i))


def frame_numbers(video_dir):
    """The numbers of the frames in a frame folder, in no particular order."""
    return [int(m.group(1)) for m in map(FRAME_FILE_RE.match, os.listdir(video_dir)) if m]


def kinetics_video_id(key):
    return KINETICS_TIME_SUFFIX.sub('', key)
