"""Layers whose bfloat16 gradients the CPU gets wrong train in float32 under --amp."""
import torch

from models import precision
from tests.test_reliability import TINY, data_flags, run_cli, ucf_like
import main as main_module


class CorruptBfloat16WeightGradient(torch.autograd.Function):
    """A faulty kernel's stand-in: the weight's bfloat16 gradient comes back NaN."""

    @staticmethod
    def forward(ctx, weight):
        return weight.view_as(weight)

    @staticmethod
    def backward(ctx, grad):
        return grad * float('nan') if grad.dtype == torch.bfloat16 else grad


REAL_CONV3D = torch.nn.functional.conv3d


def faulty_conv3d(x, weight, *args):
    return REAL_CONV3D(x, CorruptBfloat16WeightGradient.apply(weight), *args)


def test_a_correct_kernel_passes_the_check():
    conv = torch.nn.Conv3d(8, 8, 3, padding=1, bias=False)
    assert not precision.bfloat16_gradients_are_wrong(conv, (2, 8, 4, 6, 6))


def test_a_faulty_kernel_is_caught_and_its_layer_trains_in_float32(monkeypatch):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv3d(3, 4, 3, padding=1, bias=False),
                                torch.nn.ReLU(), torch.nn.Conv3d(4, 2, 1, bias=False))
    reference = [p.detach().clone() for p in model.parameters()]
    monkeypatch.setattr(precision.F, 'conv3d', faulty_conv3d)
    failing = precision.keep_float32_where_bfloat16_fails(model, (5, 3, 4, 6, 6))
    monkeypatch.undo()
    assert failing == ['0', '2']
    assert all(torch.equal(p, r) for p, r in zip(model.parameters(), reference))
    assert set(model.state_dict()) == {'0.weight', '2.weight'}  # names unchanged

    x = torch.randn(2, 3, 4, 6, 6)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = model(x)
    assert out.dtype == torch.float32  # the layers ran in float32 under autocast
    out.sum().backward()
    exact = torch.nn.Sequential(torch.nn.Conv3d(3, 4, 3, padding=1, bias=False),
                                torch.nn.ReLU(), torch.nn.Conv3d(4, 2, 1, bias=False))
    exact.load_state_dict(model.state_dict())
    exact(x).sum().backward()
    for p, q in zip(model.parameters(), exact.parameters()):
        torch.testing.assert_close(p.grad, q.grad)


def test_main_says_which_layers_train_in_float32(tmp_path, capsys, monkeypatch):
    video_path, annotation_path = ucf_like(tmp_path)
    monkeypatch.setattr(precision, 'bfloat16_gradients_are_wrong',
                        lambda conv, shape, memory_format: conv.out_channels == 256)
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101'), *TINY,
                        '--result_path', tmp_path / 'r', '--n_epochs', 1, '--no_val', '--amp')
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith('--amp:')]
    assert len(lines) == 1
    assert lines[0] == ('--amp: this CPU computes wrong bfloat16 gradients for layer3.0.conv1, '
                        'layer3.0.conv2; they train in float32')


def test_no_check_without_amp(tmp_path, capsys, monkeypatch):
    video_path, annotation_path = ucf_like(tmp_path)

    def fail(*args):
        raise AssertionError('checked without --amp')

    monkeypatch.setattr(main_module, 'keep_float32_where_bfloat16_fails', fail)
    code, err = run_cli(capsys, *data_flags(video_path, annotation_path, 'ucf101'), *TINY,
                        '--result_path', tmp_path / 'r', '--n_epochs', 1, '--no_val')
    assert code == 0, err
