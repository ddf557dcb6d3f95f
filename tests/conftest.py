import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


@pytest.fixture
def make_opt():
    """Options as main.py would parse them, from a list of flags."""
    from opts import parse_opts

    def make(*flags):
        return parse_opts(['--no_cuda', *map(str, flags)])
    return make
