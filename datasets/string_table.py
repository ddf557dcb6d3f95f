"""Many strings in one buffer (UTF-8 bytes and offsets): no Python object per string while
stored, shared by DataLoader workers without copy-on-write growth, and savable in an .npz as
two arrays."""
import numpy as np


class StringTable:
    """A list of strings, read by index or in order."""

    def __init__(self, strings):
        encoded = [s.encode('utf-8') for s in strings]
        self.offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=self.offsets[1:])
        self.data = np.frombuffer(b''.join(encoded), dtype=np.uint8) if encoded else \
            np.zeros(0, np.uint8)

    def __len__(self):
        return len(self.offsets) - 1

    def __getitem__(self, i):
        return self.data[self.offsets[i]:self.offsets[i + 1]].tobytes().decode('utf-8')

    @property
    def nbytes(self):
        return self.offsets.nbytes + self.data.nbytes

    def __iter__(self):
        blob = self.data.tobytes()
        for a, b in zip(self.offsets[:-1].tolist(), self.offsets[1:].tolist()):
            yield blob[a:b].decode('utf-8')

    @classmethod
    def from_arrays(cls, data, offsets):
        """The table whose `data` and `offsets` arrays these are (as saved in an .npz)."""
        table = cls([])
        table.data, table.offsets = data, offsets
        return table
