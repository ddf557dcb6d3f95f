"""What a dataset layout is: how its annotation file names classes and videos, and where
its videos' frames lie on disk. One file per layout (kinetics.py, ucf101.py, hmdb51.py,
activitynet.py) defines a subclass and one line of datasets/registry.py names it; the clip
index, decoding and transforms (videodataset.py) are the same for all.

A layout is plain Python (no torch): the evaluation programs use it too.
"""


class Layout:
    """The interface every layout fills in (see kinetics.py and activitynet.py)."""
    name = ''  # as --dataset takes it
    title = ''  # as messages name it: 'Kinetics', 'ActivityNet'
    # Clip starts stop this many frames before a span's end: kinetics' windows start below
    # n_frames (range(1, n_frames, step)), activitynet's below the segment's end.
    stop_offset = 1
    # Drop clips (and spans) with fewer than sample_duration frames on disk.
    drop_short = False
    # The frame number of an HDF5 file's first entry (frames numbered as in frame folders).
    hdf5_first_number = 1
    # What to do when an annotation file's `testing` subset is empty.
    no_testing_subset = 'use --test_subset val to test on the validation subset'

    def recognises(self, data):
        """Whether an annotation file's parsed JSON has this layout's class list."""
        raise NotImplementedError

    def class_names(self, data, path):
        """The class names of an annotation file, in class-index order."""
        raise NotImplementedError

    def read(self, data, subset, path):
        """(class names, [Video]) of the `subset` entries of an annotation file."""
        raise NotImplementedError

    def video_id(self, key):
        """The id that results name a database entry by."""
        return key

    def labels_of(self, entry):
        """The ground-truth labels of a database entry, as a set; empty if the entry is not
        of this layout."""
        raise NotImplementedError

    def spans(self, record, video_dir, untrimmed=False):
        """(spans, holes) of a frame folder: the record's spans as (label, begin, end), `end`
        exclusive, and the frame numbers >= 1 missing on disk up to and including the one
        after the last frame; None for a video absent on disk."""
        raise NotImplementedError

    def spans_of_video(self, record, n_frames, fps, untrimmed=False):
        """The same for a video file of `n_frames` frames at `fps` (none missing)."""
        raise NotImplementedError

    def spans_of_entries(self, record, n_entries):
        """(spans, holes, frames the annotation places past the end) of an HDF5 file of
        `n_entries` frames, numbered from hdf5_first_number: as a video file's."""
        spans, holes = self.spans_of_video(record, n_entries, None)
        return spans, holes, 0
