"""A run's datasets, from explicit settings: where the data is (DataSource), what a clip is
(clip_settings.ClipSettings) and the transforms a recipe chose (recipes/)."""
from typing import NamedTuple

from datasets.registry import DATASETS
from datasets.videodataset import VideoDataset


class DataSource(NamedTuple):
    """Which layout, which frames, videos or HDF5 files (`flow`: their flow frames), which
    annotation file."""
    dataset: str
    video_path: str
    annotation_path: str
    input_format: str = 'auto'
    flow: bool = False


def make_dataset(source, clips, subset, purpose, n_samples, transforms, untrimmed=False,
                 skip_damaged=False, layout=None, clip_windows=None):
    """The `subset` videos of `source` as `purpose` ('training', 'validation', 'test',
    'inference') takes their clips. `transforms`: (spatial, temporal, target); `layout`:
    the annotation layout (default: --dataset's registered one); `clip_windows`: where a
    span's clips lie (VideoDataset)."""
    spatial, temporal, target = transforms
    return VideoDataset(layout or DATASETS[source.dataset], source.video_path,
                        source.annotation_path, subset, n_samples, spatial, temporal, target,
                        sample_duration=clips.duration, purpose=purpose,
                        input_format=source.input_format, untrimmed=untrimmed,
                        skip_damaged=skip_damaged, clip_windows=clip_windows,
                        flow=source.flow)
