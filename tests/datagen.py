"""Tiny generated datasets in the four layouts, for tests.

Frame i of a video is a solid colour: red = i, green = the video's number, blue = 100, so
a test can read back which frames a clip holds.
"""
import json
import os
import subprocess

from PIL import Image

from datasets.names import FRAME_FILE_FFMPEG


def write_video(folder, n_frames, video_number=0, size=(64, 48), n_frames_file=True):
    os.makedirs(folder, exist_ok=True)
    for i in range(1, n_frames + 1):
        Image.new('RGB', size, (i % 256, video_number % 256, 100)).save(
            os.path.join(folder, f'image_{i:05d}.jpg'), quality=95)
    if n_frames_file:
        with open(os.path.join(folder, 'n_frames'), 'w') as f:
            f.write(str(n_frames))


def labelled_layout(root, classes, videos, kinetics=False, size=(64, 48), ext=None,
                    segments=False):
    """videos: list of (class name, subset, n_frames). Returns (video_path, annotation_path).

    Keys are `v{i}` (with a Kinetics time suffix when `kinetics`); test videos of Kinetics go
    to `test/`, others to `<label>/`. Frame folders under ROOT/jpg, or with `ext` video files
    `<key><ext>` (write_video_file) under ROOT/videos. `segments`: the 2020 release's
    annotation file (each entry's frames as a segment [1, n_frames + 1], testing entries in
    `test/`, no n_frames files).
    """
    video_path = os.path.join(root, 'jpg' if ext is None else 'videos')
    database = {}
    for i, (label, subset, n_frames) in enumerate(videos):
        key = f'v{i:03d}' + ('_000010_000020' if kinetics else '')
        entry = {'subset': subset, 'annotations': {} if subset == 'testing' else
                 {'label': label}}
        if segments:
            entry['annotations']['segment'] = [1, n_frames + 1]
        database[key] = entry
        folder = f'test/{key}' if (kinetics or segments) and subset == 'testing' \
            else f'{label}/{key}'
        if ext is None:
            write_video(os.path.join(video_path, folder), n_frames, i, size,
                        n_frames_file=not segments)
        else:
            write_video_file(os.path.join(video_path, folder + ext), n_frames, i, size)
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


def write_footage_frames(folder, n_frames, height=240, width=-1):
    """Real-looking frames, as utils_scripts/video_jpg_kinetics.py makes them (ffmpeg,
    scale=-1:HEIGHT, default JPEG quality), of a moving, textured, noisy 640x360 video (a
    test pattern blended with a cellular automaton, plus grain); writes `n_frames`. A
    `width` other than -1 stretches them to that width. Needs ffmpeg."""
    os.makedirs(folder, exist_ok=True)
    video = os.path.join(folder, 'source.mp4')
    sources = ('testsrc2=size=640x360:rate=30',
               'life=size=640x360:rate=30:mold=10:ratio=0.5:life_color=#e0c080')
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    sources[0], '-f', 'lavfi', '-i', sources[1], '-filter_complex',
                    '[0][1]blend=all_mode=average,noise=alls=8:allf=t', '-frames:v',
                    str(n_frames), '-pix_fmt', 'yuv420p', video], check=True)
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-i', video, '-vf',
                    f'scale={width}:{height}', os.path.join(folder, FRAME_FILE_FFMPEG)],
                   check=True)
    os.remove(video)
    with open(os.path.join(folder, 'n_frames'), 'w') as f:
        f.write(str(n_frames))


# Frame i (from 1) of a generated video file: red = FRAME_STEP * i, so that a decoded frame
# still tells its number after lossy compression (round(red / FRAME_STEP)).
FRAME_STEP = 8
CODECS = {'.mp4': ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'],
          '.avi': ['-c:v', 'mpeg4', '-q:v', '2', '-pix_fmt', 'yuv420p']}


def write_video_file(path, n_frames, video_number=0, size=(64, 48), fps=25, key_every=4):
    """A video of solid-colour frames (red = FRAME_STEP * i, green = 20 * video number),
    encoded by ffmpeg with the codec of its extension (.mp4: H.264, .avi: MPEG-4 part 2)."""
    import numpy as np
    assert n_frames * FRAME_STEP < 256
    os.makedirs(os.path.dirname(path), exist_ok=True)
    w, h = size
    frames = np.zeros((n_frames, h, w, 3), np.uint8)
    frames[..., 0] = (np.arange(1, n_frames + 1) * FRAME_STEP)[:, None, None]
    frames[..., 1] = 20 * video_number % 256
    frames[..., 2] = 100
    subprocess.run(['ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'rawvideo',
                    '-pix_fmt', 'rgb24', '-s', f'{w}x{h}', '-r', str(fps), '-i', '-',
                    *CODECS[os.path.splitext(path)[1]], '-g', str(key_every), '-an', path],
                   input=frames.tobytes(), check=True)


def video_file_layout(root, classes, videos, ext='.mp4', kinetics=False, size=(64, 48)):
    """labelled_layout with video files instead of frame folders."""
    return labelled_layout(root, classes, videos, kinetics, size, ext)
