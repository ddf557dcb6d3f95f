"""The CVPR 2018 code's recipe (the default): values 0-255 divided by --norm_value, the
ActivityNet mean subtracted, multi-scale corner crops in training, the test pass's Scale and
corner crop, windows starting below the last frame, the fixed average pooling of its
networks, `epoch` in checkpoints the next one."""
import os

import torch

import spatial_transforms as st
import target_transforms as tgt
import temporal_transforms as tt
from argtypes import APPLIED, OptionError, non_negative_int, option, positive_float, positive_int
from clip_settings import ClipSettings
from datasets.clip_stream import default_windows
from datasets.factory import make_dataset
from datasets.registry import DATASETS
from datasets.segments import SegmentsLayout
from loaders import make_loader
from mean import get_mean, get_std
from models.factory import FineTuning
from models.registry import FAMILIES
from recipes.base import FinalPass, Recipe, preprocessing_record, shared_clip_fields
from test import test

TEST_SUBSETS = {'val': 'validation', 'test': 'testing'}
MIN_SCALE, MAX_SCALES = 0.01, 100

OPTIONS = (
    option('--mean_dataset', group='clips', programs=APPLIED, recorded=True,
           default='activitynet', choices=('activitynet', 'kinetics'),
           help='dataset whose mean is subtracted'),
    option('--norm_value', group='clips', programs=APPLIED, recorded=True, default=1,
           type=positive_int, help='pixel values are divided by this (1: 0-255, 255: 0-1)'),
    option('--std_norm', group='clips', programs=APPLIED, recorded=True, action='store_true',
           help='divide by the standard deviation'),
    option('--scale_in_test', group='clips', programs=APPLIED, default=1.0, type=positive_float,
           help='spatial scale in test'),
    option('--crop_position_in_test', group='clips', programs=APPLIED, default='c',
           choices=('c', 'tl', 'tr', 'bl', 'br'), help='crop position in test'),
    option('--initial_scale', group='data', default=1.0, type=positive_float,
           help='first multi-scale crop scale'),
    option('--n_scales', group='data', default=5, type=positive_int,
           help='number of crop scales'),
    option('--scale_step', group='data', default=0.84089641525, type=positive_float,
           help='ratio between consecutive crop scales'),
    option('--test_subset', group='data', default='val', choices=('val', 'test'),
           help='annotation subset of the test pass (validation or testing)'),
    option('--n_finetune_classes', group='model', default=400, type=positive_int,
           help='classes of the new classifier when --pretrain_path is given'),
    option('--ft_begin_index', group='model', default=0, type=int, choices=range(0, 6),
           help='first block to fine-tune (0: all)'),
    option('--lr_patience', group='optimisation', default=10, type=non_negative_int,
           help='patience of the plateau scheduler'),
    option('--begin_epoch', group='run control', default=1, type=positive_int,
           help='first epoch; replaced by the checkpoint\'s when resuming'),
    option('--test', group='run control', action='store_true',
           help='after the epochs, the test pass: <result_path>/<test_subset>.json'),
    option('--no_softmax_in_test', group='run control', action='store_true',
           help='average raw scores instead of softmax probabilities in test'),
)


def crop_scales(initial, step, n):
    """initial * step ** i for i below n; each must lie in [MIN_SCALE, 1] (a smaller crop
    would be a few pixels of the frame)."""
    if n > MAX_SCALES:
        raise OptionError(f'argument --n_scales: at most {MAX_SCALES}, got {n}')
    scales = []
    for i in range(n):
        try:
            scale = initial * step ** i
        except OverflowError:
            scale = float('inf')
        if not MIN_SCALE <= scale <= 1:
            raise OptionError(f'argument --initial_scale/--scale_step/--n_scales: crop scale '
                              f'{i + 1} of {n} is {scale:g}, outside [{MIN_SCALE:g}, 1]')
        scales.append(scale)
    return scales


# -- the pipelines ------------------------------------------------------------------------

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
    steps += [st.ToTensor(clips.norm_value), st.Normalize(clips.mean, clips.std)]
    spatial = st.Compose(steps, tensor_frames=True)
    return (spatial, tt.TemporalRandomCrop(clips.duration), tgt.ClassLabel())


def validation_transforms(clips):
    spatial = st.Compose([st.Scale(clips.size), st.CenterCrop(clips.size),
                          st.ToTensor(clips.norm_value), st.Normalize(clips.mean, clips.std)])
    # One clip per video is the centred one; several are spread windows, padded.
    temporal = (tt.TemporalCenterCrop(clips.duration) if clips.n_val_samples == 1
                else tt.LoopPadding(clips.duration))
    return spatial, temporal, tgt.ClassLabel()


def test_transforms(clips):
    spatial = st.Compose([st.Scale(clips.test_frame_size),
                          st.CornerCrop(clips.size, clips.test_crop_position),
                          st.ToTensor(clips.norm_value), st.Normalize(clips.mean, clips.std)])
    return spatial, tt.LoopPadding(clips.duration), tgt.VideoID()


class CVPR2018(Recipe):
    name = 'cvpr2018'
    title = 'the CVPR 2018 code'
    pipeline = 'values 0-255 less the ActivityNet mean'
    options = OPTIONS
    fine_tuning_flag = '--ft_begin_index'
    # Every family but R(2+1)D, which came with the 2020 release.
    families = tuple(name for name in FAMILIES if name != 'resnet2p1d')

    def layout(self, dataset):
        layout = DATASETS[dataset]
        # A layout of segments only (Moments in Time) is the 2020 release's form.
        return None if type(layout) is SegmentsLayout else layout

    def mean_std(self, opt):
        return get_mean(opt.norm_value, dataset=opt.mean_dataset), get_std(opt.norm_value)

    def derived_options(self, opt):
        return {'scales': crop_scales(opt.initial_scale, opt.scale_step, opt.n_scales)} \
            if hasattr(opt, 'initial_scale') else {}

    def check(self, opt):
        if int(opt.sample_size / opt.scale_in_test) < opt.sample_size:
            return (f'argument --scale_in_test: {opt.scale_in_test:g} scales frames to '
                    f'{int(opt.sample_size / opt.scale_in_test)} pixels, smaller than the '
                    f'--sample_size {opt.sample_size} crop (use at most 1)')
        return None

    def notes(self, opt):
        if getattr(opt, 'ft_begin_index', 0) and not opt.pretrain_path:
            return [f'note: --ft_begin_index {opt.ft_begin_index} does nothing without '
                    '--pretrain_path: every layer trains']
        return []

    def clip_settings(self, opt):
        """Values 0-255 divided by --norm_value, the mean subtracted unless --no_mean_norm,
        divided by the std only with --std_norm."""
        return ClipSettings(
            norm_value=opt.norm_value,
            mean=(0.0, 0.0, 0.0) if opt.no_mean_norm else tuple(opt.mean),
            std=tuple(opt.std) if opt.std_norm else (1.0, 1.0, 1.0),
            scales=tuple(getattr(opt, 'scales', (1.0,))), test_scale=opt.scale_in_test,
            test_crop_position=opt.crop_position_in_test, **shared_clip_fields(opt))

    def fine_tuning(self, opt):
        if not opt.pretrain_path:
            return None
        return FineTuning(opt.pretrain_path, opt.n_finetune_classes, '--n_finetune_classes',
                          begin_index=opt.ft_begin_index)

    def fine_tuning_flags(self, path, n_pretrained, n_classes):
        return (f'--pretrain_path {path} --n_classes {n_pretrained} --n_finetune_classes '
                f'{n_classes}')

    def begin_epoch(self, opt, next_epoch):
        """The one the checkpoint names (--begin_epoch where it names none)."""
        return next_epoch or opt.begin_epoch

    def training_set(self, source, clips, skip_damaged=False):
        return make_dataset(source, clips, 'training', 'training', 1,
                            training_transforms(clips), skip_damaged=skip_damaged)

    def validation_set(self, source, clips, skip_damaged=False):
        return make_dataset(source, clips, 'validation', 'validation', clips.n_val_samples,
                            validation_transforms(clips), skip_damaged=skip_damaged)

    def make_scheduler(self, opt, optimizer):
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, 'min',
                                                          patience=opt.lr_patience)

    def final_pass(self, opt, source, clips, n_outputs):
        """--test: the windows of every --test_subset video (an untrimmed one, ActivityNet's,
        as one span), their scores averaged, the top 10 classes."""
        if not opt.test:
            return None
        dataset = make_dataset(source, clips, TEST_SUBSETS[opt.test_subset], 'test', 0,
                               test_transforms(clips), untrimmed=True, skip_damaged=True)
        path = os.path.join(opt.result_path, f'{opt.test_subset}.json')

        def run(model, runtime, damage):
            test(make_loader(dataset, opt.batch_size, opt.n_threads, runtime), model,
                 dataset.class_names, path, runtime, softmax=not opt.no_softmax_in_test,
                 damage=damage)
        return FinalPass('test', dataset, path, run)

    def inference_transform(self, clips):
        """The test pass's: Scale, then the corner crop of --crop_position_in_test."""
        return test_transforms(clips)[0]

    def windows(self, n_frames, duration, stride):
        """Starting at 1, 1 + stride, ... below the last frame (at least one), each
        `duration` long or cut at the last frame (then loop padded), as the test pass."""
        return default_windows(n_frames, duration, stride)

    def preprocessing(self, clips):
        return preprocessing_record(
            clips, clips.test_frame_size, clips.test_crop_position, clips.norm_value, 1,
            'a clip every `stride` frames (export: `frames`) from frame 1 while its start is '
            'below the last frame; one cut at the last frame repeats its frames from its '
            'start (loop padding)')


RECIPE = CVPR2018()
