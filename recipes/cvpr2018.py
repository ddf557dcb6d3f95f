"""The CVPR 2018 code's recipe (the default): values 0-255 divided by --norm_value, the
ActivityNet mean subtracted, the test pass's Scale and corner crop, windows starting below
the last frame, the fixed average pooling of its networks."""
import torch

from datasets.clip_stream import default_windows
from datasets.factory import build_training_set as training_set  # noqa: F401
from datasets.factory import build_validation_set as validation_set  # noqa: F401
from datasets.factory import test_transforms
from datasets.registry import DATASETS
from mean import get_mean, get_std

# Options only this recipe has (inference.py's and main.py's).
OWN_OPTIONS = {'norm_value', 'std_norm', 'scale_in_test', 'crop_position_in_test',
               # main.py's that the 2020 release dropped
               'begin_epoch', 'test', 'test_subset', 'no_softmax_in_test', 'lr_patience',
               'n_finetune_classes', 'ft_begin_index', 'initial_scale', 'n_scales',
               'scale_step'}
# main.py's options that both recipes have: the parser's defaults are this recipe's.
DEFAULTS = {}
OWN_DATASETS = ()
# Families only this recipe builds (none: the 2020 recipe builds the others with the 2020
# pipeline).
OWN_FAMILIES = ()
MEAN_DATASET = 'activitynet'
MEAN_DATASETS = ('activitynet', 'kinetics')


def mean_std(opt):
    """The reference's mean of --mean_dataset and its std, on values 0-255 divided by
    --norm_value (applied or not by normalisation())."""
    return get_mean(opt.norm_value, dataset=opt.mean_dataset), get_std(opt.norm_value)


def normalisation(opt):
    """(norm_value, mean, std) of the clips: values 0-255 divided by --norm_value, the
    mean subtracted unless --no_mean_norm, divided by the std only with --std_norm."""
    return (opt.norm_value, (0.0, 0.0, 0.0) if opt.no_mean_norm else tuple(opt.mean),
            tuple(opt.std) if opt.std_norm else (1.0, 1.0, 1.0))


def inference_transform(opt):
    """inference.py's spatial transform: the test pass's (Scale, then the corner crop of
    --crop_position_in_test)."""
    from clip_settings import ClipSettings
    return test_transforms(ClipSettings.from_options(opt))[0]


def layout(dataset):
    return DATASETS[dataset]


def model_options(opt):
    """ModelSpec fields this recipe decides: none beyond the shared ones."""
    return {}


# inference's windows: starting at 1, 1 + stride, ... below the last frame (at least one),
# each `duration` long or cut at the last frame (then loop padded), as main.py's test pass
# takes them.
windows = default_windows


# -- how main.py trains, validates and saves under this recipe ---------------------------------

# The option that sets the new classifier's classes when fine-tuning.
FINE_TUNED_CLASSES_FLAG = '--n_finetune_classes'
# Checkpoints hold the next epoch as 'epoch', the state dict as the run's model holds it.
SAVES_EPOCH_DONE = False


def begin_epoch(opt, saved_epoch):
    """The epoch a resumed run starts at: the one the checkpoint names (--begin_epoch where
    it names none)."""
    return saved_epoch or opt.begin_epoch


def validation_batch_size(opt):
    return opt.batch_size


def make_scheduler(opt, optimizer):
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, 'min',
                                                      patience=opt.lr_patience)


def restore_schedule(opt, checkpoint, scheduler):
    """Nothing beyond the scheduler's state, which the checkpoint restores."""
