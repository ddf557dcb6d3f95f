"""HDF5 video files as the 2020 release reads them: one file a video, a dataset of one JPEG
frame's bytes per entry (`video`; flow: `video_u` and `video_v`), written whole or not at
all."""
import os
import re

import numpy as np

NUMBER = re.compile(r'(\d+)\D*$')


def numbered(names):
    """File names in the order of the last number in each (image_99999.jpg before
    image_100000.jpg, which name order would swap)."""
    def key(name):
        match = NUMBER.search(name)
        return (int(match.group(1)) if match else -1, name)
    return sorted(names, key=key)


def write_video_hdf5(path, frames):
    """Write `frames` ({dataset name: [paths of JPEG files, in frame order]}) into the HDF5
    file `path`: written beside it first and renamed when complete, so that a file at
    `path` is always whole (an interrupted write leaves `path.partial`, removed by the next
    one)."""
    import h5py
    partial = path + '.partial'
    try:
        with h5py.File(partial, 'w') as f:
            for name, files in frames.items():
                data = f.create_dataset(name, (len(files),), dtype=h5py.vlen_dtype(np.uint8))
                for i, file in enumerate(files):
                    with open(file, 'rb') as jpeg:
                        data[i] = np.frombuffer(jpeg.read(), dtype=np.uint8)
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
