"""The 2020 release's annotation segments: each video's frames as [1, n_frames + 1], counted
in its frame folder (`<video_path>/<label>/<key>`, unlabelled videos in `test/<key>`), as its
annotation builders write them (main.py --recipe 2020 reads them instead of n_frames files).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datasets.names import frame_numbers  # noqa: E402


def add_segments(database, video_path):
    """Give every entry whose frame folder exists its segment; returns how many have none
    (no folder, or no frames in it), which main.py skips."""
    if not os.path.isdir(video_path):
        sys.exit(f'error: no such folder: {video_path} (the frame folders, to count frames)')
    missing = 0
    for key, entry in database.items():
        annotations = entry.setdefault('annotations', {})
        folder = os.path.join(video_path, annotations.get('label', 'test'), key)
        n_frames = len(frame_numbers(folder)) if os.path.isdir(folder) else 0
        if n_frames:
            annotations['segment'] = [1, n_frames + 1]
        else:
            annotations.pop('segment', None)
            missing += 1
    if missing:
        print(f'note: {missing} of {len(database)} videos have no frames under {video_path} '
              '(<label>/<key>/image_00001.jpg ...): they have no segment, and main.py '
              '--recipe 2020 skips them')
    return missing
