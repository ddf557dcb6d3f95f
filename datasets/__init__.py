"""Video-frame datasets of the four layouts (docs/data.md) and their factory.

The names below load on first use, so that `datasets.names` can be imported by the
data-preparation programs without torch.
"""
import importlib

_EXPORTS = {'ActivityNet': 'datasets.activitynet', 'HMDB51': 'datasets.hmdb51',
            'Kinetics': 'datasets.kinetics', 'UCF101': 'datasets.ucf101',
            'get_test_set': 'datasets.factory', 'get_training_set': 'datasets.factory',
            'get_validation_set': 'datasets.factory'}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(importlib.import_module(_EXPORTS[name]), name)
