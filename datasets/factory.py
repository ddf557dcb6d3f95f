"""The datasets and transform pipelines of training, validation and test (docs/data.md)."""
import spatial_transforms as st
import target_transforms as tgt
import temporal_transforms as tt
from datasets.activitynet import ActivityNet
from datasets.hmdb51 import HMDB51
from datasets.kinetics import Kinetics
from datasets.ucf101 import UCF101

LAYOUTS = {'kinetics': Kinetics, 'activitynet': ActivityNet, 'ucf101': UCF101,
           'hmdb51': HMDB51}
TEST_SUBSETS = {'val': 'validation', 'test': 'testing'}


def make_dataset(opt, subset, purpose, n_samples, transforms, untrimmed=False):
    spatial, temporal, target = transforms
    kwargs = dict(n_samples_for_each_video=n_samples, spatial_transform=spatial,
                  temporal_transform=temporal, target_transform=target,
                  sample_duration=opt.sample_duration, purpose=purpose,
                  input_format=opt.input_format)
    if opt.dataset == 'activitynet':
        kwargs['is_untrimmed_setting'] = untrimmed
    return LAYOUTS[opt.dataset](opt.video_path, opt.annotation_path, subset, **kwargs)


def get_training_set(opt, spatial_transform, temporal_transform, target_transform):
    return make_dataset(opt, 'training', 'training', 1,
                        (spatial_transform, temporal_transform, target_transform))


def get_validation_set(opt, spatial_transform, temporal_transform, target_transform):
    return make_dataset(opt, 'validation', 'validation', opt.n_val_samples,
                        (spatial_transform, temporal_transform, target_transform))


def get_test_set(opt, spatial_transform, temporal_transform, target_transform):
    return make_dataset(opt, TEST_SUBSETS[opt.test_subset], 'test', 0,
                        (spatial_transform, temporal_transform, target_transform),
                        untrimmed=True)


def normalization(opt):
    mean = [0, 0, 0] if opt.no_mean_norm else opt.mean
    std = opt.std if opt.std_norm else [1, 1, 1]
    return st.Normalize(mean, std)


def training_transforms(opt):
    """(spatial, temporal, target) transforms of training. The spatial one takes decoded
    tensor frames: resized by PIL (the reference's pixels), or with --fast_training_clips
    by PyTorch's uint8 kernel."""
    resize = 'torch' if opt.fast_training_clips else 'pil'
    crops = {
        'random': lambda: st.MultiScaleRandomCrop(opt.scales, opt.sample_size,
                                                  tensor_resize=resize),
        'corner': lambda: st.MultiScaleCornerCrop(opt.scales, opt.sample_size,
                                                  tensor_resize=resize),
        'center': lambda: st.MultiScaleCornerCrop(opt.scales, opt.sample_size,
                                                  crop_positions=['c'], tensor_resize=resize),
    }
    steps = [crops[opt.train_crop]()]
    if not opt.no_hflip:
        steps.append(st.RandomHorizontalFlip())
    steps += [st.ToTensor(opt.norm_value), normalization(opt)]
    spatial = st.Compose(steps, tensor_frames=True)
    return (spatial, tt.TemporalRandomCrop(opt.sample_duration), tgt.ClassLabel())


def validation_transforms(opt):
    spatial = st.Compose([st.Scale(opt.sample_size), st.CenterCrop(opt.sample_size),
                          st.ToTensor(opt.norm_value), normalization(opt)])
    # One clip per video is the centred one; several are spread windows, padded.
    temporal = (tt.TemporalCenterCrop(opt.sample_duration) if opt.n_val_samples == 1
                else tt.LoopPadding(opt.sample_duration))
    return spatial, temporal, tgt.ClassLabel()


def test_transforms(opt):
    spatial = st.Compose([st.Scale(int(opt.sample_size / opt.scale_in_test)),
                          st.CornerCrop(opt.sample_size, opt.crop_position_in_test),
                          st.ToTensor(opt.norm_value), normalization(opt)])
    return spatial, tt.LoopPadding(opt.sample_duration), tgt.VideoID()
