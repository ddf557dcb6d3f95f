"""The names of a trained model's classes, for inference.py's results and export.py's
metadata: from a list file, an annotation file, what a checkpoint records, Kinetics-400's for
a 400-class model (the published models), or class indices."""
from datasets.annotations import load_annotation
from datasets.inputs import read_list
from datasets.registry import layout_of_annotation
from utils import UserError


def class_names_for(n_classes, class_names_path='', annotation_path='', recorded=None,
                    say=None):
    """The names of `n_classes` classes: from the file `class_names_path` (one a line),
    the annotation file `annotation_path`, the checkpoint's `recorded` names, Kinetics-400's
    for 400 classes, or indices (then `say` is given a warning saying how to name them); a
    file that names another number is a UserError."""
    if class_names_path:
        names = read_list(class_names_path, comments=False)  # a class may be named '#1'
    elif annotation_path:
        names = annotation_class_names(annotation_path)
    elif isinstance(recorded, list) and len(recorded) == n_classes:
        names = [str(name) for name in recorded]
    elif n_classes == 400:
        # The published models' order: Kinetics-400's classes sorted, as torchvision lists them.
        from torchvision.models.video import R3D_18_Weights
        names = list(R3D_18_Weights.KINETICS400_V1.meta['categories'])
    else:
        names = [str(i) for i in range(n_classes)]
        if say:
            say(f'warning: no names for the model\'s {n_classes} classes: they are named '
                f'0 ... {n_classes - 1}. Give --class_names FILE (one a line, in the order of '
                'the outputs; utils_scripts/class_names.py writes it from Kinetics\' training '
                'CSV, which the published Kinetics-700 models follow, from Moments in Time\'s '
                'categories, or from an annotation file) or --annotation_path')
    if len(names) != n_classes:
        raise UserError(f'{class_names_path or annotation_path} names {len(names)} classes but '
                        f'the model has {n_classes} (--n_classes)')
    return names


def annotation_class_names(path):
    """The class names of an annotation file of any registered layout, in the order main.py
    numbers them."""
    data = load_annotation(path)
    layout = layout_of_annotation(data)
    if layout is None:
        raise UserError(f'{path} has neither "labels" nor "taxonomy": no class names in it')
    return [str(name) for name in layout.class_names(data, path)]
