"""The 2020 release's recipe (--recipe 2020): values in [0, 1] times --value_scale, the
Kinetics mean and std by default, Resize of the shorter side and a centre crop (or none),
its sliding windows, ResNet and R(2+1)D with adaptive pooling and its stem options."""
import collections
import warnings

import torch

import spatial_transforms as st
import target_transforms as tgt
import temporal_transforms as tt
from datasets.factory import make_dataset
from datasets.registry import DATASETS
from datasets.segments import SegmentsLayout

# The options only this recipe has (inference.py's and main.py's); a run of the other
# recipe that gives one is told in one line (recipes.misplaced_flag).
OWN_OPTIONS = {'value_scale', 'no_std_norm', 'inference_crop', 'conv1_t_stride',
               'no_max_pool', 'resnet_widen_factor', 'n_pretrain_classes', 'ft_begin_module',
               'sample_t_stride', 'train_crop_min_scale', 'train_crop_min_ratio',
               'colorjitter', 'train_t_crop', 'lr_scheduler', 'multistep_milestones',
               'overwrite_milestones', 'plateau_patience', 'inference_batch_size',
               'batchnorm_sync', 'inference', 'inference_subset', 'inference_stride',
               'inference_no_average', 'input_type', 'accimage', 'output_topk', 'file_type',
               'dist_url', 'world_size'}
# main.py's options that both recipes have, with this recipe's defaults.
DEFAULTS = {'train_crop': 'random', 'dampening': 0.0}
OWN_DATASETS = ('mit',)
OWN_FAMILIES = ('resnet2p1d',)
# Families the release builds itself; it raises TypeError for its others (pre-activation
# ResNet, ResNeXt, DenseNet), which run here as the CVPR 2018 code defines them, with this
# recipe's pipeline (said in one line).
FAMILIES = ('resnet', 'resnet2p1d', 'wideresnet')
MEAN_DATASET = 'kinetics'
MEAN_DATASETS = ('activitynet', 'kinetics', '0.5')
# --mean_dataset -> (mean, std) of values in [0, 1]
MEAN_STD = {
    'kinetics': ((0.4345, 0.4051, 0.3775), (0.2768, 0.2713, 0.2737)),
    'activitynet': ((0.4477, 0.4209, 0.3906), (0.2767, 0.2695, 0.2714)),
    '0.5': ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


def add_options(g):
    """The release's options that inference.py takes under this recipe."""
    g.add_argument('--value_scale', default=1, type=float,
                   help='values in [0, 1] are multiplied by this (the mean and std too)')
    g.add_argument('--no_std_norm', action='store_true',
                   help='do not divide by the standard deviation')
    g.add_argument('--inference_crop', default='center', choices=('center', 'nocrop'),
                   help='centre crop of --sample_size, or the whole frame scaled')
    g.add_argument('--conv1_t_stride', default=1, type=int,
                   help='temporal stride of the first convolution')
    g.add_argument('--no_max_pool', action='store_true',
                   help='no max pooling after the first convolution')
    g.add_argument('--resnet_widen_factor', default=1.0, type=float,
                   help='widths of resnet and resnet2p1d, the stem included, times this')


def add_main_options(g):
    """The release's options that only main.py takes (training, validation, --inference)."""
    from opts import non_negative_int, positive_int, unit_fraction
    g.add_argument('--n_pretrain_classes', default=0, type=non_negative_int,
                   help='classes of the --pretrain_path model (--n_classes: of the model '
                        'trained)')
    g.add_argument('--ft_begin_module', default='', type=str,
                   help='fine-tune from this top-level module on (e.g. layer4, fc); '
                        'default: all')
    g.add_argument('--sample_t_stride', default=1, type=positive_int,
                   help='take every this many frames')
    g.add_argument('--train_crop_min_scale', default=0.25, type=unit_fraction,
                   help='smallest area of a random training crop, a fraction of the frame\'s')
    g.add_argument('--train_crop_min_ratio', default=0.75, type=unit_fraction,
                   help='aspect ratios of random training crops lie in [this, 1 / this]')
    g.add_argument('--colorjitter', action='store_true',
                   help='the release\'s colour jitter, whose factors are all 0: it changes '
                        'nothing (said in one line)')
    g.add_argument('--train_t_crop', default='random', choices=('random', 'center'),
                   help='temporal crop in training')
    g.add_argument('--lr_scheduler', default='multistep', choices=('multistep', 'plateau'))
    g.add_argument('--multistep_milestones', default=[50, 100, 150], type=positive_int,
                   nargs='+', help='epochs after which the learning rate is divided by 10')
    g.add_argument('--overwrite_milestones', action='store_true',
                   help='when resuming, use --multistep_milestones instead of the '
                        'checkpoint\'s')
    g.add_argument('--plateau_patience', default=10, type=non_negative_int,
                   help='patience of the plateau scheduler')
    g.add_argument('--batchnorm_sync', action='store_true',
                   help='with --distributed, batch-norm statistics over all processes')
    g.add_argument('--inference', action='store_true',
                   help='after the epochs, score --inference_subset into '
                        '<result_path>/<inference_subset>.json')
    g.add_argument('--inference_subset', default='val', choices=('train', 'val', 'test'))
    g.add_argument('--inference_stride', default=16, type=positive_int,
                   help='a window every this many (taken) frames')
    g.add_argument('--inference_batch_size', default=0, type=non_negative_int,
                   help='videos a batch in --inference, with all their clips (0: '
                        '--batch_size)')
    g.add_argument('--inference_no_average', action='store_true',
                   help='scores of every window instead of their mean per video')
    g.add_argument('--output_topk', default=5, type=int,
                   help='classes a result lists (0 or less: all)')
    g.add_argument('--input_type', default='rgb', choices=('rgb', 'flow'),
                   help='rgb only here (flow needs the release\'s HDF5 files)')
    g.add_argument('--file_type', default='jpg', choices=('jpg', 'hdf5'),
                   help='jpg only here (frame folders, or video files)')
    g.add_argument('--accimage', action='store_true', help='accepted; changes nothing here')
    g.add_argument('--dist_url', default=None, type=str,
                   help='not used: --distributed runs under torchrun')
    g.add_argument('--world_size', default=None, type=int,
                   help='not used: --distributed runs under torchrun')


def refused_option(opt):
    """A one-line error for a release option this program does not run, or None."""
    if opt.input_type != 'rgb' or opt.file_type != 'jpg':
        return ('argument --input_type/--file_type: flow and HDF5 inputs are not supported; '
                'give frame folders of JPEG files (or video files) with --input_type rgb')
    if opt.dist_url is not None or opt.world_size is not None:
        return ('argument --dist_url/--world_size: --distributed runs one process per GPU '
                'under torchrun, which sets both: torchrun --nproc_per_node=N main.py '
                '--distributed ...')
    if opt.lr_scheduler == 'plateau' and opt.no_val and not opt.no_train:
        return ('argument --lr_scheduler: plateau steps on the validation loss, and '
                '--no_val leaves it out: drop --no_val or use multistep')
    return None


def mean_std(opt):
    """The mean and std the clips are normalised with, on values in [0, value_scale]."""
    mean, std = MEAN_STD[opt.mean_dataset]
    mean = (0.0, 0.0, 0.0) if opt.no_mean_norm else tuple(m * opt.value_scale for m in mean)
    std = (1.0, 1.0, 1.0) if opt.no_std_norm else tuple(s * opt.value_scale for s in std)
    return mean, std


def normalisation(opt):
    """(norm_value, mean, std) of the clips: values in [0, 1] (then times --value_scale),
    the mean and std opts derived (mean_std)."""
    return 255, tuple(opt.mean), tuple(opt.std)


def model_options(opt):
    return {'conv1_t_stride': opt.conv1_t_stride, 'max_pool': not opt.no_max_pool,
            'resnet_widen_factor': opt.resnet_widen_factor, 'adaptive_pool': True,
            'wide_stem': True}


# -- the pipelines ------------------------------------------------------------------------

def value_steps(clips):
    """ToTensor to [0, 1], times value_scale, the mean and std."""
    steps = [st.ToTensor(255)]
    if clips.value_scale != 1:
        steps.append(st.ScaleValues(clips.value_scale))
    return steps + [st.Normalize(clips.mean, clips.std)]


def evaluation_transform(clips, crop=True):
    """The release's spatial transform of validation and inference: the shorter side
    resized to the clip size (PIL's bilinear), the centre crop (unless `crop` is False),
    then the values."""
    steps = [st.Scale(clips.size)] + ([st.CenterCrop(clips.size)] if crop else [])
    return st.Compose(steps + value_steps(clips))


def training_transforms(clips):
    """(spatial, temporal, target) transforms of training: a random resized crop (or the
    multi-scale corner crop at scales 2^(-k/4), or Resize and the centre crop), a flip,
    the values; every t_stride-th frame, then a random or centred run of them."""
    tensor_frames = clips.train_crop != 'center'
    resize = 'torch' if clips.fast_resize else 'pil'
    if clips.train_crop == 'random':
        ratio = clips.train_crop_min_ratio
        steps = [st.RandomResizedCrop(clips.size, (clips.train_crop_min_scale, 1.0),
                                      (ratio, 1.0 / ratio), tensor_resize=resize)]
    elif clips.train_crop == 'corner':
        steps = [st.MultiScaleCornerCrop([2 ** (-k / 4) for k in range(5)], clips.size,
                                         tensor_resize=resize, rounded_centre=True)]
    else:
        steps = [st.Scale(clips.size), st.CenterCrop(clips.size)]
    if clips.hflip:
        steps.append(st.RandomHorizontalFlip())
    spatial = st.Compose(steps + value_steps(clips), tensor_frames=tensor_frames)
    crop = tt.TemporalRandomCrop if clips.train_t_crop == 'random' else tt.TemporalCenterCrop
    temporal = crop(clips.duration)
    if clips.t_stride > 1:
        temporal = tt.Compose([tt.TemporalSubsampling(clips.t_stride), temporal])
    return spatial, temporal, tgt.ClassLabel()


def layout(dataset):
    """The annotation layout of --dataset under this recipe: the release's segments for
    all but ActivityNet (whose CVPR 2018 layout it keeps)."""
    if dataset == 'activitynet':
        return DATASETS[dataset]
    return SegmentsLayout(dataset, DATASETS[dataset].title)


SUBSETS = {'train': 'training', 'val': 'validation', 'test': 'testing'}


def training_set(source, clips, skip_damaged=False):
    return make_dataset(source, clips, 'training', 'training', 1,
                        training_transforms(clips), skip_damaged=skip_damaged,
                        layout=layout(source.dataset))


def validation_set(source, clips, skip_damaged=False):
    """n_val_samples clips a video, spread as the release's TemporalEvenCrop spreads
    them."""
    def spread(first, end):
        return tt.release_windows(first, end, clips.duration, clips.t_stride,
                                  n_clips=clips.n_val_samples)
    return make_dataset(source, clips, 'validation', 'validation', 1,
                        (evaluation_transform(clips), tt.LoopPadding(clips.duration),
                         tgt.ClassLabel()),
                        skip_damaged=skip_damaged, layout=layout(source.dataset),
                        clip_windows=spread)


def inference_set(source, clips, subset, skip_damaged=False):
    """The windows of --inference over the `subset` ('train', 'val', 'test') videos."""
    def sliding(first, end):
        return tt.release_windows(first, end, clips.duration, clips.t_stride,
                                  step=clips.inference_stride)
    return make_dataset(source, clips, SUBSETS[subset], 'inference', 1,
                        (evaluation_transform(clips, clips.inference_crop == 'center'),
                         tt.LoopPadding(clips.duration), tgt.VideoIDAndSegment()),
                        skip_damaged=skip_damaged, layout=layout(source.dataset),
                        clip_windows=sliding)


def inference_transform(opt):
    """inference.py's spatial transform (that of --inference)."""
    from clip_settings import ClipSettings
    clips = ClipSettings.from_options(opt)
    return evaluation_transform(clips, clips.inference_crop == 'center')


def windows(n_frames, duration, stride):
    """inference.py's (first, last) frame numbers of the release's sliding windows: a
    window starts at every stride-th frame; each holds the consecutive frames from its
    start, `duration` of them or up to the last frame; the first short one (loop padded)
    ends the list."""
    return [(start, start + length - 1) for start, length in
            tt.release_windows(1, n_frames + 1, duration, step=stride)]


# -- how main.py trains, validates and saves under this recipe ---------------------------------

# --n_classes is the trained model's, fine-tuned or not.
FINE_TUNED_CLASSES_FLAG = '--n_classes'
# Checkpoints hold the epoch done as 'epoch', and an unprefixed state dict.
SAVES_EPOCH_DONE = True


def begin_epoch(opt, saved_epoch):
    """The epoch after the one the checkpoint saved; without training the epochs run from 1
    (so that --no_train --n_epochs 1 validates once)."""
    return 1 if opt.no_train or saved_epoch is None else saved_epoch + 1


def validation_batch_size(opt):
    """Clips a validation batch: the release batches batch_size // n_val_samples videos
    with all their clips (the same means over clips)."""
    return max(1, opt.batch_size // opt.n_val_samples) * opt.n_val_samples


def make_scheduler(opt, optimizer):
    """--lr_scheduler multistep (--multistep_milestones) or plateau (--plateau_patience)."""
    if opt.lr_scheduler == 'plateau':
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, 'min',
                                                          patience=opt.plateau_patience)
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, opt.multistep_milestones)


def restore_schedule(opt, checkpoint, scheduler):
    """--overwrite_milestones; and a checkpoint of the release itself, saved before its
    multistep scheduler stepped for the epoch done, is stepped once here, so the rate
    follows the run as if it had not stopped (the release's own resume lags a step)."""
    if not isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR):
        return
    if opt.overwrite_milestones:
        scheduler.milestones = collections.Counter(opt.multistep_milestones)
    if checkpoint.get('scheduler') and 'trained' not in checkpoint:
        with warnings.catch_warnings():  # (PyTorch warns of a step before any training step)
            warnings.simplefilter('ignore', UserWarning)
            scheduler.step()
