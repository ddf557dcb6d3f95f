"""Video-frame datasets of the four layouts (SPEC section 4) and their factory."""
from datasets.activitynet import ActivityNet
from datasets.factory import get_test_set, get_training_set, get_validation_set
from datasets.hmdb51 import HMDB51
from datasets.kinetics import Kinetics
from datasets.ucf101 import UCF101

__all__ = ['ActivityNet', 'HMDB51', 'Kinetics', 'UCF101', 'get_test_set', 'get_training_set',
           'get_validation_set']
