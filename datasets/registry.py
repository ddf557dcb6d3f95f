"""The dataset layouts by the name --dataset takes. A new layout is one file in datasets/
and one line here (docs/extending.md); the options, the dataset factory, inference.py and
the evaluation programs all read this table."""
from datasets.activitynet import ActivityNetLayout
from datasets.hmdb51 import HMDB51Layout
from datasets.kinetics import KineticsLayout
from datasets.segments import SegmentsLayout
from datasets.ucf101 import UCF101Layout

DATASETS = {layout.name: layout for layout in (
    KineticsLayout(),
    ActivityNetLayout(),
    UCF101Layout(),
    HMDB51Layout(),
    SegmentsLayout('mit', 'Moments in Time'),  # the 2020 release's layout only
)}


def layout_of_annotation(data):
    """The first layout whose class list the parsed annotation file has, or None."""
    return next((layout for layout in DATASETS.values() if layout.recognises(data)), None)
