"""The model zoo: the reference's networks with its parameter names (one file per family,
named in registry.py); `generate_model(opt)` builds what the options name, as the
reference's did."""
import importlib

__all__ = ['generate_model']


def __getattr__(name):  # loaded on first use: the family modules import each other's parts
    if name == 'generate_model':
        return importlib.import_module('models.factory').generate_model
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
