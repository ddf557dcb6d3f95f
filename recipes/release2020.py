"""The 2020 release's recipe (--recipe 2020): values in [0, 1] times --value_scale, the
Kinetics mean and std by default, random resized crops in training, Resize of the shorter
side and a centre crop (or none) in validation and inference, its sliding windows, ResNet
and R(2+1)D with adaptive pooling and its stem options, checkpoints in its layout (the
epoch done, an unprefixed state dict, its scheduler) and its --inference results."""
import collections
import os
import warnings

import torch

import spatial_transforms as st
import target_transforms as tgt
import temporal_transforms as tt
from argtypes import (APPLIED, non_negative_int, option, positive_float, positive_int,
                      unit_fraction)
from clip_settings import ClipSettings
from datasets.factory import make_dataset
from datasets.registry import DATASETS
from datasets.segments import SegmentsLayout
from loaders import VideoBatches, make_loader
from models.factory import FineTuning
from recipes.base import FinalPass, Recipe, preprocessing_record, shared_clip_fields
from test import release_inference

# --mean_dataset -> (mean, std) of values in [0, 1]
MEAN_STD = {
    'kinetics': ((0.4345, 0.4051, 0.3775), (0.2768, 0.2713, 0.2737)),
    'activitynet': ((0.4477, 0.4209, 0.3906), (0.2767, 0.2695, 0.2714)),
    '0.5': ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
SUBSETS = {'train': 'training', 'val': 'validation', 'test': 'testing'}

# The release's options, each under its own name with its default.
OPTIONS = (
    option('--mean_dataset', group='clips', programs=APPLIED, recorded=True, default='kinetics',
           choices=tuple(MEAN_STD), help='dataset whose mean and std normalise the values'),
    option('--value_scale', group='clips', programs=APPLIED, recorded=True, default=1,
           type=float, help='values in [0, 1] are multiplied by this (the mean and std too)'),
    option('--no_std_norm', group='clips', programs=APPLIED, recorded=True, action='store_true',
           help='do not divide by the standard deviation'),
    option('--inference_crop', group='clips', programs=APPLIED, default='center',
           choices=('center', 'nocrop'),
           help='centre crop of --sample_size, or the whole frame scaled'),
    option('--sample_t_stride', group='clips', default=1, type=positive_int,
           help='take every this many frames'),
    option('--train_crop_min_scale', group='data', default=0.25, type=unit_fraction,
           help='smallest area of a random training crop, a fraction of the frame\'s'),
    option('--train_crop_min_ratio', group='data', default=0.75, type=unit_fraction,
           help='aspect ratios of random training crops lie in [this, 1 / this]'),
    option('--train_t_crop', group='data', default='random', choices=('random', 'center'),
           help='temporal crop in training'),
    option('--colorjitter', group='data', action='store_true',
           help='the release\'s colour jitter, whose factors are all 0: it changes nothing '
                '(said in one line)'),
    option('--input_type', group='clips', programs=APPLIED, recorded=True, default='rgb',
           choices=('rgb', 'flow'),
           help='flow: the u and v frames of HDF5 files (video_u, video_v), 2 input channels '
                '(needs --file_type hdf5)'),
    option('--file_type', group='data', default='jpg', choices=('jpg', 'hdf5'),
           help='jpg: frame folders (or video files); hdf5: one HDF5 file a video '
                '(<label>/<key>.hdf5, utils_scripts/generate_video_hdf5.py)'),
    option('--accimage', group='data', action='store_true', help='accepted; changes nothing'),
    option('--n_classes', group='model', programs=APPLIED, default=400, type=positive_int,
           help='classes of the model trained (fine-tuned or not)'),
    option('--conv1_t_stride', group='model', programs=APPLIED, recorded=True, default=1,
           type=positive_int, help='temporal stride of the first convolution'),
    option('--no_max_pool', group='model', programs=APPLIED, recorded=True, action='store_true',
           help='no max pooling after the first convolution'),
    option('--resnet_widen_factor', group='model', programs=APPLIED, recorded=True, default=1.0,
           type=positive_float,
           help='widths of resnet and resnet2p1d, the stem included, times this'),
    option('--n_pretrain_classes', group='model', default=0, type=non_negative_int,
           help='classes of the --pretrain_path model (--n_classes: of the model trained)'),
    option('--ft_begin_module', group='model', default='',
           help='fine-tune from this top-level module on (e.g. layer4, fc); default: all'),
    option('--lr_scheduler', group='optimisation', default='multistep',
           choices=('multistep', 'plateau')),
    option('--multistep_milestones', group='optimisation', default=[50, 100, 150],
           type=positive_int, nargs='+',
           help='epochs after which the learning rate is divided by 10'),
    option('--overwrite_milestones', group='optimisation', action='store_true',
           help='when resuming, use --multistep_milestones instead of the checkpoint\'s'),
    option('--plateau_patience', group='optimisation', default=10, type=non_negative_int,
           help='patience of the plateau scheduler'),
    option('--sync_bn', '--batchnorm_sync', group='devices and speed', dest='sync_bn',
           action='store_true',
           help='with --distributed, batch-norm statistics over all processes (CUDA)'),
    option('--dist_url', group='devices and speed', default=None,
           help='not used: under --distributed, torchrun gives the processes their address'),
    option('--world_size', group='devices and speed', default=None, type=int,
           help='not used: under --distributed, torchrun sets the number of processes'),
    option('--inference', group='run control', action='store_true',
           help='after the epochs, score --inference_subset into '
                '<result_path>/<inference_subset>.json'),
    option('--inference_subset', group='run control', default='val', choices=tuple(SUBSETS)),
    option('--inference_stride', group='run control', default=16, type=positive_int,
           help='a window every this many (taken) frames'),
    option('--inference_batch_size', group='run control', default=0, type=non_negative_int,
           help='videos a batch in --inference, with all their clips (0: --batch_size)'),
    option('--inference_no_average', group='run control', action='store_true',
           help='scores of every window instead of their mean per video'),
    option('--output_topk', group='run control', default=5, type=int,
           help='classes a result lists (0 or less: all)'),
)


def input_channels(opt):
    """3 (RGB) or 2 (--input_type flow: u and v)."""
    return 2 if getattr(opt, 'input_type', 'rgb') == 'flow' else 3


# -- the pipelines ------------------------------------------------------------------------

def value_steps(clips):
    """ToTensor to [0, 1] (flow: its first two channels, u and v), times value_scale, the
    mean and std."""
    steps = [st.ToTensor(255)]
    if clips.n_channels < 3:
        steps.append(st.FirstChannels(clips.n_channels))
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


def inference_set(source, clips, subset, layout):
    """The windows of --inference over the `subset` ('train', 'val', 'test') videos."""
    def sliding(first, end):
        return tt.release_windows(first, end, clips.duration, clips.t_stride,
                                  step=clips.inference_stride)
    return make_dataset(source, clips, SUBSETS[subset], 'inference', 1,
                        (evaluation_transform(clips, clips.inference_crop == 'center'),
                         tt.LoopPadding(clips.duration), tgt.VideoIDAndSegment()),
                        skip_damaged=True, layout=layout, clip_windows=sliding)


class Release2020(Recipe):
    name = '2020'
    title = 'the 2020 release of 3D-ResNets-PyTorch'
    pipeline = 'values in [0, 1], Kinetics mean and std'
    options = OPTIONS
    defaults = {'train_crop': 'random', 'dampening': 0.0}
    saves_epoch_done = True
    fine_tuning_flag = '--ft_begin_module'
    # Families the release builds itself; it raises TypeError for its others (pre-activation
    # ResNet, ResNeXt, DenseNet), which run here as the CVPR 2018 code defines them, with
    # this recipe's pipeline (said in one line).
    own_families = ('resnet', 'resnet2p1d', 'wideresnet')

    def layout(self, dataset):
        """The release's segments for all but ActivityNet (whose CVPR 2018 layout it
        keeps)."""
        if dataset == 'activitynet':
            return DATASETS[dataset]
        return SegmentsLayout(dataset, DATASETS[dataset].title)

    def mean_std(self, opt):
        """--mean_dataset's, times --value_scale; flow: their first two values."""
        mean, std = MEAN_STD[opt.mean_dataset]
        n = input_channels(opt)
        return (tuple(m * opt.value_scale for m in mean[:n]),
                tuple(s * opt.value_scale for s in std[:n]))

    def data_source(self, opt):
        """--file_type hdf5 reads HDF5 files (so does --input_format hdf5); flow their u and v
        frames."""
        source = super().data_source(opt)
        hdf5 = getattr(opt, 'file_type', 'jpg') == 'hdf5'
        return source._replace(input_format='hdf5' if hdf5 else source.input_format,
                               flow=getattr(opt, 'input_type', 'rgb') == 'flow')

    def check(self, opt):
        if getattr(opt, 'input_type', 'rgb') == 'flow' and \
                getattr(opt, 'file_type', 'jpg') != 'hdf5' and \
                getattr(opt, 'input_format', 'auto') != 'hdf5':
            return ('argument --input_type: flow frames are read from HDF5 files (their '
                    'video_u and video_v): add --file_type hdf5')
        if not hasattr(opt, 'lr_scheduler'):  # inference.py's options: no more to check
            return None
        if opt.dist_url is not None or opt.world_size is not None:
            return ('argument --dist_url/--world_size: --distributed runs one process per GPU '
                    'under torchrun, which sets both: torchrun --nproc_per_node=N main.py '
                    '--distributed ...')
        if opt.lr_scheduler == 'plateau' and opt.no_val and not opt.no_train:
            return ('argument --lr_scheduler: plateau steps on the validation loss, and '
                    '--no_val leaves it out: drop --no_val or use multistep')
        if opt.pretrain_path and not opt.n_pretrain_classes:
            return ('argument --n_pretrain_classes: --pretrain_path needs the classes of the '
                    'pretrained model (700 for the r3d*_K and r2p1d*_K checkpoints, 339 for '
                    '_M, 1039 for _KM)')
        return None

    def notes(self, opt):
        lines = []
        if opt.model not in self.own_families:
            lines.append(f'note: the 2020 release cannot build {opt.model} (its code raises '
                         'TypeError); it runs as the CVPR 2018 code defines it, with the 2020 '
                         'pipeline')
        if getattr(opt, 'ft_begin_module', '') and not opt.pretrain_path:
            lines.append(f'note: --ft_begin_module {opt.ft_begin_module} does nothing without '
                         '--pretrain_path: every layer trains')
        if getattr(opt, 'colorjitter', False):
            lines.append('note: --colorjitter changes nothing: the 2020 release\'s jitter has '
                         'all its factors 0 (and crashes there)')
        return lines

    def clip_settings(self, opt):
        """Values in [0, 1] times --value_scale, less the mean unless --no_mean_norm,
        divided by the std unless --no_std_norm."""
        fields = shared_clip_fields(opt)
        if hasattr(opt, 'sample_t_stride'):  # main.py's
            fields.update(train_crop_min_scale=opt.train_crop_min_scale,
                          train_crop_min_ratio=opt.train_crop_min_ratio,
                          train_t_crop=opt.train_t_crop, t_stride=opt.sample_t_stride,
                          inference_stride=opt.inference_stride)
        n = input_channels(opt)
        return ClipSettings(
            norm_value=255, value_scale=opt.value_scale, n_channels=n,
            mean=(0.0,) * n if opt.no_mean_norm else tuple(opt.mean),
            std=(1.0,) * n if opt.no_std_norm else tuple(opt.std),
            inference_crop=opt.inference_crop, **fields)

    def model_fields(self, opt):
        """Adaptive pooling, its stem options; fine-tuning, the pretrained model's classes
        (--n_classes is the model trained)."""
        fields = {'conv1_t_stride': opt.conv1_t_stride, 'max_pool': not opt.no_max_pool,
                  'resnet_widen_factor': opt.resnet_widen_factor, 'adaptive_pool': True,
                  'wide_stem': True, 'n_input_channels': input_channels(opt)}
        if getattr(opt, 'pretrain_path', ''):
            fields['n_classes'] = opt.n_pretrain_classes
        return fields

    def fine_tuning(self, opt):
        if not opt.pretrain_path:
            return None
        return FineTuning(opt.pretrain_path, opt.n_classes, '--n_classes',
                          begin_module=opt.ft_begin_module,
                          pretrained_classes_advice='set --n_pretrain_classes {saved} (the '
                                                    'pretrained model\'s)')

    def fine_tuning_flags(self, path, n_pretrained, n_classes):
        return (f'--pretrain_path {path} --n_pretrain_classes {n_pretrained} --n_classes '
                f'{n_classes}')

    def claims(self, checkpoint):
        """Written by the release's code: its scheduler state (without the entries this
        program adds beside it), an R(2+1)D arch, or R(2+1)D's parameter names."""
        return ('scheduler' in checkpoint or
                str(checkpoint.get('arch', '')).startswith('resnet2p1d') or
                any(key.removeprefix('module.').startswith('conv1_s.')
                    for key in checkpoint['state_dict']))

    def begin_epoch(self, opt, next_epoch):
        """The epoch after the one the checkpoint saved; without training the epochs run
        from 1 (so that --no_train --n_epochs 1 validates once)."""
        return 1 if opt.no_train or next_epoch is None else next_epoch

    def training_set(self, source, clips, skip_damaged=False):
        return make_dataset(source, clips, 'training', 'training', 1,
                            training_transforms(clips), skip_damaged=skip_damaged,
                            layout=self.layout(source.dataset))

    def validation_set(self, source, clips, skip_damaged=False):
        """n_val_samples clips a video, spread as the release's TemporalEvenCrop spreads
        them."""
        def spread(first, end):
            return tt.release_windows(first, end, clips.duration, clips.t_stride,
                                      n_clips=clips.n_val_samples)
        return make_dataset(source, clips, 'validation', 'validation', 1,
                            (evaluation_transform(clips), tt.LoopPadding(clips.duration),
                             tgt.ClassLabel()),
                            skip_damaged=skip_damaged, layout=self.layout(source.dataset),
                            clip_windows=spread)

    def validation_batch_size(self, opt):
        """Clips a validation batch: the release batches batch_size // n_val_samples videos
        with all their clips (the same means over clips)."""
        return max(1, opt.batch_size // opt.n_val_samples) * opt.n_val_samples

    def make_scheduler(self, opt, optimizer):
        """--lr_scheduler multistep (--multistep_milestones) or plateau
        (--plateau_patience)."""
        if opt.lr_scheduler == 'plateau':
            return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, 'min',
                                                              patience=opt.plateau_patience)
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, opt.multistep_milestones)

    def restore_schedule(self, opt, checkpoint, scheduler):
        """--overwrite_milestones; and a checkpoint of the release itself, saved before its
        multistep scheduler stepped for the epoch done, is stepped once here, so the rate
        follows the run as if it had not stopped (the release's own resume lags a step)."""
        if not isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR):
            return
        if opt.overwrite_milestones:
            scheduler.milestones = collections.Counter(opt.multistep_milestones)
        if checkpoint.get('scheduler') and 'trained' not in checkpoint:
            with warnings.catch_warnings():  # (PyTorch warns of a step before any training)
                warnings.simplefilter('ignore', UserWarning)
                scheduler.step()

    def final_pass(self, opt, source, clips, n_outputs):
        """--inference: every window of the --inference_subset videos, batched as the
        release batches them (all the clips of --inference_batch_size videos; one video
        with nocrop, whose frames share a size: the release fails when videos of different
        sizes share a batch), the top --output_topk of their mean softmax per video."""
        if not opt.inference:
            return None
        dataset = inference_set(source, clips, opt.inference_subset,
                                self.layout(source.dataset))
        path = os.path.join(opt.result_path, f'{opt.inference_subset}.json')
        videos = 1 if clips.inference_crop == 'nocrop' else \
            opt.inference_batch_size or opt.batch_size
        top_k = n_outputs if opt.output_topk <= 0 else min(opt.output_topk, n_outputs)

        def run(model, runtime, damage):
            batches = VideoBatches(dataset.span_video[dataset.sample_span], videos,
                                   runtime.rank, runtime.world_size)
            loader = make_loader(dataset, None, opt.n_threads, runtime, batch_sampler=batches)
            release_inference(loader, model, dataset.class_names, path, runtime, top_k,
                              average=not opt.inference_no_average, damage=damage)
        return FinalPass('inference', dataset, path, run)

    def inference_transform(self, clips):
        """That of --inference."""
        return evaluation_transform(clips, clips.inference_crop == 'center')

    def windows(self, n_frames, duration, stride):
        """The release's sliding windows: a window starts at every stride-th frame; each
        holds the consecutive frames from its start, `duration` of them or up to the last
        frame; the first short one (loop padded) ends the list."""
        return [(start, start + length - 1) for start, length in
                tt.release_windows(1, n_frames + 1, duration, step=stride)]

    def preprocessing(self, clips):
        return preprocessing_record(
            clips, clips.size, 'c' if clips.inference_crop == 'center' else None, 255,
            clips.value_scale,
            'a clip every `stride` frames (export: `frames`) from frame 1, each the frames '
            'from its start to the last; the first shorter than `frames` repeats its frames '
            '(loop padding) and is the last')


RECIPE = Release2020()
