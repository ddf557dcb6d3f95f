"""The model zoo of SPEC section 7; `generate_model(opt)` builds what the options name."""
from models.factory import generate_model

__all__ = ['generate_model']
