"""Video datasets: the layouts (registry.py), their clips (videodataset.py) and the
factory that builds a run's sets from explicit settings (factory.py).

The reference's dataset classes (`Kinetics`, `ActivityNet`, `UCF101`, `HMDB51`: one per
registered layout, named as its layout class less `Layout`) load on first use, so that the
data-preparation and evaluation programs can import `datasets.names` and the layouts
without torch.
"""
import importlib


def __getattr__(name):
    from datasets.registry import DATASETS
    for key, layout in DATASETS.items():
        if type(layout).__name__.removesuffix('Layout') == name:
            return importlib.import_module('datasets.videodataset').dataset_class(key)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
