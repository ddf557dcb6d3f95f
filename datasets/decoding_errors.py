"""How decoding fails, said by file: a damaged frame of a clip (a frame folder's JPEG file,
or frames of a video file that do not decode), a video that cannot be read at all, and
torchcodec's messages for faults of a file in plain words."""
import re

from utils import UserError, one_line


class DamagedFrame(UserError):
    """A frame that is missing or cannot be decoded: `reason` is 'missing' or 'corrupt
    (what the decoder said)'."""

    def __init__(self, path, kind, detail='', advice='extract the frames of this video again '
                 '(utils_scripts/video_jpg*.py, then n_frames*.py)'):
        self.path, self.reason = path, f'{kind} ({detail})' if detail else kind
        super().__init__(f'{kind} frame {path}' + (f' ({detail})' if detail else '') +
                         f': {advice} or drop it from the annotation file')


REPLACE_VIDEO = 'replace this video (utils_scripts/video_reencode.py)'


class VideoError(Exception):
    """A video that cannot be read; the message names the file and the reason, which
    `reason` holds alone."""

    def __init__(self, path, reason):
        super().__init__(f'{path}: {reason}')
        self.path, self.reason = path, reason


# torchcodec's messages for faults of the file, in plain words.
KNOWN_FAILURES = (
    ('best video stream is unknown', 'has no video stream (an audio file?)'),
    ('No valid video stream found', 'has no video stream (an audio file?)'),  # its Demuxer
    ('Expected pre-allocated tensor of shape', 'changes its frame size partway through; '
     're-encode it (utils_scripts/video_reencode.py gives every frame one size)'),
)


def decoding_failure(exc):
    """What is wrong with a file, from an exception of torchcodec: its known faults in plain
    words, otherwise 'cannot be decoded (FFmpeg's message)' (torchcodec prefixes messages
    with its own source location, dropped)."""
    reason = re.sub(r'^\w+, \S+:\d+, ', '', one_line(exc))
    for pattern, plain in KNOWN_FAILURES:
        if pattern in reason:
            return plain
    return f'cannot be decoded ({reason[:200]})'


# ffmpeg's messages for faults of a file, in the same plain words.
FFMPEG_FAILURES = (
    ('does not contain any stream', 'has no video stream (an audio file?)'),
    ('matches no streams', 'has no video stream (an audio file?)'),
    ('moov atom not found', 'is truncated (its index, the moov atom, is missing): copy or '
     'download it again'),
    ('Invalid data found when processing input', 'is not a video FFmpeg can read (damaged, '
     'or another kind of file)'),
    ('Error marking filters as finished', 'FFmpeg could not decode its frames (damaged?)'),
)


def ffmpeg_failure(stderr, returncode):
    """What is wrong with a file, from what ffmpeg printed when it failed on it: the known
    faults in plain words, otherwise 'FFmpeg failed: its last line'."""
    for pattern, plain in FFMPEG_FAILURES:
        if pattern in stderr:
            return plain
    lines = stderr.strip().splitlines()
    return f'FFmpeg failed: {lines[-1]}' if lines else f'ffmpeg exited with {returncode}'


def decoding_error(path, exc):
    return VideoError(path, decoding_failure(exc))
