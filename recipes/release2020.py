"""The 2020 release's recipe (--recipe 2020): values in [0, 1] times --value_scale, the
Kinetics mean and std by default, Resize of the shorter side and a centre crop (or none),
its sliding windows, ResNet and R(2+1)D with adaptive pooling and its stem options."""
import spatial_transforms as st

OWN_OPTIONS = {'value_scale', 'no_std_norm', 'inference_crop', 'conv1_t_stride',
               'no_max_pool', 'resnet_widen_factor'}
# The release's main.py options that this program's main.py does not take yet (it refuses
# --recipe 2020): named in one line when given.
MAIN_OPTIONS = {'n_pretrain_classes', 'ft_begin_module', 'sample_t_stride',
                'train_crop_min_scale', 'train_crop_min_ratio', 'colorjitter', 'train_t_crop',
                'lr_scheduler', 'multistep_milestones', 'overwrite_milestones',
                'plateau_patience', 'inference_batch_size', 'batchnorm_sync', 'inference',
                'inference_subset', 'inference_stride', 'inference_no_average', 'input_type',
                'accimage', 'output_topk', 'file_type', 'dist_url', 'world_size',
                'n_input_channels'} | OWN_OPTIONS
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


def mean_std(opt):
    """The mean and std the clips are normalised with, on values in [0, value_scale]."""
    mean, std = MEAN_STD[opt.mean_dataset]
    mean = (0.0, 0.0, 0.0) if opt.no_mean_norm else tuple(m * opt.value_scale for m in mean)
    std = (1.0, 1.0, 1.0) if opt.no_std_norm else tuple(s * opt.value_scale for s in std)
    return mean, std


def model_options(opt):
    return {'conv1_t_stride': opt.conv1_t_stride, 'max_pool': not opt.no_max_pool,
            'resnet_widen_factor': opt.resnet_widen_factor, 'adaptive_pool': True,
            'wide_stem': True}


def inference_transform(opt):
    """The release's spatial transform of inference and validation: the shorter side
    resized to --sample_size (PIL's bilinear), the centre crop (unless nocrop), values in
    [0, 1] times --value_scale, then the mean and std."""
    mean, std = mean_std(opt)
    steps = [st.Scale(opt.sample_size)]
    if opt.inference_crop == 'center':
        steps.append(st.CenterCrop(opt.sample_size))
    steps.append(st.ToTensor(255))
    if opt.value_scale != 1:
        steps.append(st.ScaleValues(opt.value_scale))
    return st.Compose(steps + [st.Normalize(mean, std)])


def windows(n_frames, duration, stride):
    """(first, last) frame numbers of the release's sliding windows: a window starts at
    every stride-th frame; each holds the consecutive frames from its start, `duration` of
    them or up to the last frame; the first short one (loop padded) ends the list."""
    found = []
    for start in range(1, n_frames + 1, stride):
        last = min(start + duration - 1, n_frames)
        found.append((start, last))
        if last - start + 1 < duration:
            break
    return found
