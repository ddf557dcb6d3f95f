"""Fixtures and helpers shared by the test modules (no test module imports another)."""
import csv
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.datagen import labelled_layout  # noqa: E402

# A tiny run on the CPU: ResNet-10 (parameter-free shortcuts) on 32x32 clips of 8 frames.
TINY = ['--no_cuda', '--sample_size', 32, '--sample_duration', 8, '--batch_size', 4,
        '--n_threads', 0, '--model_depth', 10, '--resnet_shortcut', 'A']


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: an end-to-end test of a second or more on a '
                                       '2-core CPU; `make test-fast` leaves these out')


@pytest.fixture
def make_opt():
    """Options as main.py would parse them, from a list of flags."""
    from opts import parse_opts

    def make(*flags):
        return parse_opts(['--no_cuda', *map(str, flags)])
    return make


def clips_of(opt):
    """The clip settings main.py decides from parsed options (the run's recipe's)."""
    from recipes import recipe_of
    return recipe_of(opt).clip_settings(opt)


def dataset_of(opt, purpose, transforms):
    """A dataset of the options' data with the given (spatial, temporal, target)
    transforms, taken as main.py takes `purpose` ('training', 'validation' or 'test')
    clips under the CVPR 2018 recipe."""
    from datasets.factory import make_dataset
    from recipes import recipe_of
    from recipes.cvpr2018 import TEST_SUBSETS
    subset, n_samples = {'training': ('training', 1),
                         'validation': ('validation', opt.n_val_samples),
                         'test': (TEST_SUBSETS[getattr(opt, 'test_subset', 'val')], 0)}[purpose]
    return make_dataset(recipe_of(opt).data_source(opt), clips_of(opt), subset, purpose,
                        n_samples, transforms, untrimmed=purpose == 'test')


@pytest.fixture
def bfloat16_cpu(monkeypatch):
    """A CPU with bfloat16 instructions, whatever this one has: --amp then autocasts to
    bfloat16 (tiny inputs keep the emulated kernels of CPUs without them fast enough)."""
    import runtime
    monkeypatch.setattr(runtime, 'cpu_has_bfloat16', lambda: True)


def run_main(*flags):
    """main.py in this process; a failure raises SystemExit."""
    import main as main_module
    main_module.main([str(f) for f in flags])


def run_cli(capsys, *flags):
    """main.py in this process; returns (exit code, stderr)."""
    try:
        run_main(*flags)
        code = 0
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def assert_one_line_error(code, err, *fragments):
    """A non-zero exit with one line on stderr that holds every fragment, no traceback."""
    assert code not in (0, None)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert 'Traceback' not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def read_log(path):
    """The rows of a tab-separated log, header first."""
    with open(path) as f:
        return list(csv.reader(f, delimiter='\t'))


def ucf_like(root, classes=('a', 'b', 'c'), train=3, val=1, kinetics=False):
    """A labelled layout: `train` training and `val` validation videos per class."""
    videos = [(c, 'training', 10 + i) for c in classes for i in range(train)]
    videos += [(c, 'validation', 20 + 3 * i) for c in classes for i in range(val)]
    return labelled_layout(str(root), list(classes), videos, kinetics=kinetics)


def data_flags(video_path, annotation_path, dataset, n_classes=3):
    return ['--video_path', video_path, '--annotation_path', annotation_path, '--dataset',
            dataset, '--n_classes', n_classes]
