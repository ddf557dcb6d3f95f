"""The model zoo: the reference's networks with its parameter names; `generate_model(opt)`
builds what the options name."""
from models.factory import generate_model

__all__ = ['generate_model']
