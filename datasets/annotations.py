"""Reading what a layout needs from disk, before any frame is decoded: the annotation JSON,
its database entries, and the small number files (`n_frames`, `fps`) beside the frames.

Imports nothing heavy: the evaluation programs read annotation files through the layouts
without loading torch.
"""
import json
import math
import os
from typing import NamedTuple

from utils import UserError, one_line


class Video(NamedTuple):
    """A video as an annotation file lists it."""
    folder: str  # relative to the video folder
    video_id: str
    label: int  # class index, -1 without a label
    segments: tuple = ()  # activitynet: (label, start_s, end_s) per annotated segment


class DamagedFolder(Exception):
    """A frame folder that cannot be indexed: the video is skipped and named."""

    def __init__(self, video_dir, reason):
        self.video_dir, self.reason = video_dir, reason
        super().__init__(f'{video_dir}: {reason}')


def annotation_error(path, key, what):
    return UserError(f'{path}: database entry {key!r} {what}')


def subset_entries(data, subset, path):
    """(key, entry) of the annotation database entries of `subset`, in file order."""
    for key, value in data['database'].items():
        if not isinstance(value, dict):
            raise annotation_error(path, key, 'is not an object')
        if value.get('subset') == subset:
            yield key, value


def load_annotation(path):
    """Read an annotation JSON file; errors name the file and the position."""
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UserError(f'annotation file not found: {path} (check --annotation_path '
                        'and --root_path)') from None
    except IsADirectoryError:
        raise UserError(f'--annotation_path {path} is a folder, not a JSON file') from None
    except json.JSONDecodeError as e:
        raise UserError(f'{path} is not valid JSON: {e.msg} at line {e.lineno} column '
                        f'{e.colno}') from None
    except (ValueError, RecursionError) as e:  # a number of 5000 digits, deep nesting
        raise UserError(f'{path} is not an annotation file: {one_line(e, 120)}') from None
    except UnicodeDecodeError as e:
        raise UserError(f'{path} is not a UTF-8 text file (byte {e.start})') from None
    if not isinstance(data, dict) or not isinstance(data.get('database'), dict):
        raise UserError(f'{path} has no "database" object: is it an annotation file made '
                        'by utils_scripts/*_json.py (or ActivityNet\'s)?')
    return data


# Bounds of the numbers read from n_frames and fps files: ten million frames is 92 hours at
# 30 fps (more is a damaged file, and would make an index of gigabytes).
LIMITS = {'number of frames': 10_000_000, 'frame rate': 10_000}


def read_number(path, what):
    """The number in a small text file (`n_frames`, `fps`), at most LIMITS[what]; None if
    the file is absent."""
    try:  # os-level calls: this runs once per video of a Kinetics-size index
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        text = os.read(fd, 64).decode('utf-8', 'replace').strip()
    except IsADirectoryError:
        raise UserError(f'{path} is a folder, not a file holding the {what}: remove it and '
                        'regenerate it with utils_scripts/') from None
    finally:
        os.close(fd)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not abs(value) <= LIMITS[what]:  # also NaN
        raise UserError(f'{path} should hold the {what} (at most {LIMITS[what]}), found '
                        f'{text[:40]!r}: regenerate it with utils_scripts/')
    return value
