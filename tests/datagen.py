"""Tiny generated datasets in the four layouts, for tests.

Frame i of a video is a solid colour: red = i, green = the video's number, blue = 100, so
a test can read back which frames a clip holds.
"""
import json
import os

from PIL import Image


def write_video(folder, n_frames, video_number=0, size=(64, 48), n_frames_file=True):
    os.makedirs(folder, exist_ok=True)
    for i in range(1, n_frames + 1):
        Image.new('RGB', size, (i % 256, video_number % 256, 100)).save(
            os.path.join(folder, f'image_{i:05d}.jpg'), quality=95)
    if n_frames_file:
        with open(os.path.join(folder, 'n_frames'), 'w') as f:
            f.write(str(n_frames))


def labelled_layout(root, classes, videos, kinetics=False, size=(64, 48)):
    """videos: list of (class name, subset, n_frames). Returns (video_path, annotation_path).

    Keys are `v{i}` (with a Kinetics time suffix when `kinetics`); test videos of Kinetics go
    to `test/`, others to `<label>/`.
    """
    video_path = os.path.join(root, 'jpg')
    database = {}
    for i, (label, subset, n_frames) in enumerate(videos):
        key = f'v{i:03d}' + ('_000010_000020' if kinetics else '')
        entry = {'subset': subset, 'annotations': {} if subset == 'testing' else
                 {'label': label}}
        database[key] = entry
        folder = f'test/{key}' if kinetics and subset == 'testing' else f'{label}/{key}'
        write_video(os.path.join(video_path, folder), n_frames, i, size)
    annotation_path = os.path.join(root, 'annotation.json')
    with open(annotation_path, 'w') as f:
        json.dump({'labels': list(classes), 'database': database}, f)
    return video_path, annotation_path


def activitynet_layout(root, videos, size=(64, 48)):
    """videos: list of (subset, n_frames, fps, [(label, start_s, end_s), ...])."""
    video_path = os.path.join(root, 'jpg')
    taxonomy = [{'nodeId': 0, 'parentId': None, 'nodeName': 'Root'},
                {'nodeId': 1, 'parentId': 0, 'nodeName': 'Sports'},
                {'nodeId': 2, 'parentId': 1, 'nodeName': 'run'},
                {'nodeId': 3, 'parentId': 0, 'nodeName': 'jump'},
                {'nodeId': 4, 'parentId': 1, 'nodeName': 'swim'}]
    database = {}
    for i, (subset, n_frames, fps, segments) in enumerate(videos):
        key = f'a{i:03d}'
        database[key] = {'subset': subset, 'annotations': [
            {'label': label, 'segment': [start, end]} for label, start, end in segments]}
        folder = os.path.join(video_path, f'v_{key}')
        write_video(folder, n_frames, i, size, n_frames_file=False)
        with open(os.path.join(folder, 'fps'), 'w') as f:
            f.write(str(fps))
    annotation_path = os.path.join(root, 'activitynet.json')
    with open(annotation_path, 'w') as f:
        json.dump({'taxonomy': taxonomy, 'database': database}, f)
    return video_path, annotation_path
