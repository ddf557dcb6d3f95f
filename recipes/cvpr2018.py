"""The CVPR 2018 code's recipe (the default): values 0-255 divided by --norm_value, the
ActivityNet mean subtracted, the test pass's Scale and corner crop, windows starting below
the last frame, the fixed average pooling of its networks."""
from datasets.clip_stream import default_windows

# Options inference.py takes only under this recipe (main.py has only this recipe's).
OWN_OPTIONS = {'norm_value', 'std_norm', 'scale_in_test', 'crop_position_in_test'}
# Families only this recipe builds (none: the 2020 recipe builds the others with the 2020
# pipeline).
OWN_FAMILIES = ()
MEAN_DATASET = 'activitynet'
MEAN_DATASETS = ('activitynet', 'kinetics')


def model_options(opt):
    """ModelSpec fields this recipe decides: none beyond the shared ones."""
    return {}


# inference's windows: starting at 1, 1 + stride, ... below the last frame (at least one),
# each `duration` long or cut at the last frame (then loop padded), as main.py's test pass
# takes them.
windows = default_windows
