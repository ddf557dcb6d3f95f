"""The datasets and transform pipelines of training, validation and test (docs/data.md),
built from explicit settings: where the data is (DataSource) and what a clip is
(clip_settings.ClipSettings)."""
from dataclasses import dataclass

import spatial_transforms as st
import target_transforms as tgt
import temporal_transforms as tt
from clip_settings import ClipSettings
from datasets.registry import DATASETS
from datasets.videodataset import VideoDataset

TEST_SUBSETS = {'val': 'validation', 'test': 'testing'}


@dataclass(frozen=True)
class DataSource:
    """Which layout, which frames or videos, which annotation file, which test subset."""
    dataset: str
    video_path: str
    annotation_path: str
    input_format: str = 'auto'
    test_subset: str = 'val'

    @classmethod
    def from_options(cls, opt):
        return cls(opt.dataset, opt.video_path, opt.annotation_path, opt.input_format,
                   opt.test_subset)


def make_dataset(source, clips, subset, purpose, n_samples, transforms, untrimmed=False,
                 skip_damaged=False, layout=None, clip_windows=None):
    """`layout`: the annotation layout (default: --dataset's registered one);
    `clip_windows`: where a span's clips lie (VideoDataset)."""
    spatial, temporal, target = transforms
    return VideoDataset(layout or DATASETS[source.dataset], source.video_path,
                        source.annotation_path, subset, n_samples, spatial, temporal, target,
                        sample_duration=clips.duration, purpose=purpose,
                        input_format=source.input_format, untrimmed=untrimmed,
                        skip_damaged=skip_damaged, clip_windows=clip_windows)


def build_training_set(source, clips, skip_damaged=False):
    return make_dataset(source, clips, 'training', 'training', 1, training_transforms(clips),
                        skip_damaged=skip_damaged)


def build_validation_set(source, clips, skip_damaged=False):
    return make_dataset(source, clips, 'validation', 'validation', clips.n_val_samples,
                        validation_transforms(clips), skip_damaged=skip_damaged)


def build_test_set(source, clips, skip_damaged=False):
    """The test pass's windows; an untrimmed video (ActivityNet) is one span."""
    return make_dataset(source, clips, TEST_SUBSETS[source.test_subset], 'test', 0,
                        test_transforms(clips), untrimmed=True, skip_damaged=skip_damaged)


# The reference's builders, from the options and given transforms.

def get_training_set(opt, spatial_transform, temporal_transform, target_transform):
    return make_dataset(DataSource.from_options(opt), ClipSettings.from_options(opt),
                        'training', 'training', 1,
                        (spatial_transform, temporal_transform, target_transform))


def get_validation_set(opt, spatial_transform, temporal_transform, target_transform):
    return make_dataset(DataSource.from_options(opt), ClipSettings.from_options(opt),
                        'validation', 'validation', opt.n_val_samples,
                        (spatial_transform, temporal_transform, target_transform))


def get_test_set(opt, spatial_transform, temporal_transform, target_transform):
    return make_dataset(DataSource.from_options(opt), ClipSettings.from_options(opt),
                        TEST_SUBSETS[opt.test_subset], 'test', 0,
                        (spatial_transform, temporal_transform, target_transform),
                        untrimmed=True)


# -- transform pipelines ----------------------------------------------------------------------

def normalization(clips):
    return st.Normalize(clips.mean, clips.std)


def training_transforms(clips):
    """(spatial, temporal, target) transforms of training. The spatial one takes decoded
    tensor frames; the native core (native/) makes its clips in one call where it is built
    (the reference's exact pixels). Without the core, the crops are resized by PIL (the
    same pixels), or with --fast_training_clips by PyTorch's uint8 kernel."""
    resize = 'torch' if clips.fast_resize else 'pil'
    crops = {
        'random': lambda: st.MultiScaleRandomCrop(clips.scales, clips.size,
                                                  tensor_resize=resize),
        'corner': lambda: st.MultiScaleCornerCrop(clips.scales, clips.size,
                                                  tensor_resize=resize),
        'center': lambda: st.MultiScaleCornerCrop(clips.scales, clips.size,
                                                  crop_positions=['c'], tensor_resize=resize),
    }
    steps = [crops[clips.train_crop]()]
    if clips.hflip:
        steps.append(st.RandomHorizontalFlip())
    steps += [st.ToTensor(clips.norm_value), normalization(clips)]
    spatial = st.Compose(steps, tensor_frames=True)
    return (spatial, tt.TemporalRandomCrop(clips.duration), tgt.ClassLabel())


def validation_transforms(clips):
    spatial = st.Compose([st.Scale(clips.size), st.CenterCrop(clips.size),
                          st.ToTensor(clips.norm_value), normalization(clips)])
    # One clip per video is the centred one; several are spread windows, padded.
    temporal = (tt.TemporalCenterCrop(clips.duration) if clips.n_val_samples == 1
                else tt.LoopPadding(clips.duration))
    return spatial, temporal, tgt.ClassLabel()


def test_transforms(clips):
    spatial = st.Compose([st.Scale(clips.test_frame_size),
                          st.CornerCrop(clips.size, clips.test_crop_position),
                          st.ToTensor(clips.norm_value), normalization(clips)])
    return spatial, tt.LoopPadding(clips.duration), tgt.VideoID()
