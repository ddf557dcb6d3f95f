"""Video datasets: the layouts (registry.py), their clips (videodataset.py) and the
factory that builds a run's sets (factory.py).

The reference's dataset classes (`Kinetics`, `ActivityNet`, `UCF101`, `HMDB51`: one per
registered layout, named as its layout class less `Layout`) and the factory's functions
load on first use, so that the data-preparation and evaluation programs can import
`datasets.names` and the layouts without torch.
"""
import importlib

_FACTORY = ('get_training_set', 'get_validation_set', 'get_test_set')


def __getattr__(name):
    if name in _FACTORY:
        return getattr(importlib.import_module('datasets.factory'), name)
    from datasets.registry import DATASETS
    for key, layout in DATASETS.items():
        if type(layout).__name__.removesuffix('Layout') == name:
            return importlib.import_module('datasets.videodataset').dataset_class(key)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
