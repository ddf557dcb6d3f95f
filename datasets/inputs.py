"""The videos inference.py is given: video files, HDF5 files, folders searched for these and
for frame folders, and text files listing such paths, each with the name its outputs take."""
import os

from datasets.clip_stream import Source
from datasets.hdf5_videos import HDF5_EXTENSION
from datasets.names import VIDEO_EXTENSIONS, frame_path
from utils import UserError, one_line

LIST_EXTENSIONS = ('.txt', '.lst', '.list')


def find_sources(inputs):
    """Every video the inputs name, with its output name; a missing input, an empty search
    or two videos of the same name is a UserError."""
    sources = []
    for given in inputs:
        sources.extend(sources_of(given, os.getcwd(), ()))
    if not sources:
        raise UserError(f'no video files or frame folders found in {", ".join(inputs)}')
    seen = {}
    for source in sources:
        if source.name in seen and seen[source.name] != source.path:
            raise UserError(f'{seen[source.name]} and {source.path} would both be written as '
                            f'{source.name!r}: give them in separate runs or rename one')
        seen[source.name] = source.path
    return list({source.name: source for source in sources}.values())


def sources_of(given, base, lists):
    """The videos `given` names, relative to `base`; `lists`: the list files being read
    (one listing itself, or a cycle of lists, is an error). A path a list names that is not
    there is a video that fails (named in failed.txt), not the end of the run."""
    if given == '-' or '://' in given:
        raise UserError(f'input {given}: inference.py reads files and folders, not standard '
                        'input or URLs: save the video to a file first')
    path = os.path.join(base, os.path.expanduser(given))
    if os.path.isdir(path):
        if is_frame_folder(path):
            return [Source(os.path.basename(os.path.normpath(path)), path, True)]
        return search_folder(path)
    if not os.path.isfile(path):
        if lists and not os.path.exists(path):  # one line of a list: that video fails
            return [Source(os.path.splitext(os.path.basename(path))[0], path, False)]
        raise UserError(f'input not found: {given}' if not os.path.exists(path) else
                        f'input {given} is not a file or folder (a pipe or a device?): '
                        'save the video to a file first')
    if path.lower().endswith(LIST_EXTENSIONS):
        real = os.path.realpath(path)
        if real in lists:
            raise UserError(f'the list {given} lists itself (through {len(lists)} list'
                            f'{"s" if len(lists) > 1 else ""}): remove that line')
        return [s for entry in read_list(path) for s in
                sources_of(entry, os.path.dirname(path), lists + (real,))]
    return [Source(os.path.splitext(os.path.basename(path))[0], path, False)]


def is_frame_folder(path):
    return os.path.isfile(frame_path(path, 1))


def search_folder(root):
    """Video files and frame folders below `root`, named by their path relative to it
    without extension; sorted."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for sub in list(subfolders):
            if is_frame_folder(os.path.join(folder, sub)):
                subfolders.remove(sub)  # its frames are one video
                path = os.path.join(folder, sub)
                found.append(Source(os.path.relpath(path, root), path, True))
        for name in sorted(files):
            if name.lower().endswith(VIDEO_EXTENSIONS + (HDF5_EXTENSION,)):
                path = os.path.join(folder, name)
                found.append(Source(os.path.splitext(os.path.relpath(path, root))[0], path,
                                    False))
    return sorted(found)


def read_list(path, comments=True):
    """The non-empty lines of a text file, stripped (a UTF-8 byte-order mark dropped);
    `comments`: lines starting with # (indented or not) are left out."""
    try:
        with open(path, encoding='utf-8-sig') as f:
            lines = [line.strip() for line in f]
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f'cannot read the list {path}: {one_line(e)}') from None
    return [line for line in lines if line and not (comments and line.startswith('#'))]
