"""Which 3D convolutions may train in bfloat16 on this CPU.

PyTorch 2.14's CPU kernels (oneDNN) return wrong bfloat16 weight gradients for some Conv3d
shapes: measured here, a 3x3x3 convolution with padding 1 over an input of temporal size 2
(layer3 of every ResNet at 16 frames) gets gradients ~100 % off, sometimes infinite, while
its forward pass and input gradients are right. Training with --amp would then quietly
leave those layers untrained or corrupt them. So, before training with --amp on the CPU,
each convolution's bfloat16 gradients are compared with float32 ones at the run's own
shapes; a layer that disagrees keeps its bfloat16 forward pass and input gradient (both
right) and computes its weight gradient in float32 (its weights and names unchanged).
"""
import types

import torch
import torch.nn.functional as F

TOLERANCE = 0.05  # relative error; bfloat16's own is about 0.003 here


def conv_input_shapes(model, input_shape, memory_format):
    """{Conv3d module: the shape of its input} for a batch of `input_shape`."""
    shapes = {}

    def record(conv, args, output):
        shapes.setdefault(conv, args[0].shape)

    hooks = [m.register_forward_hook(record) for m in model.modules()
             if isinstance(m, torch.nn.Conv3d)]
    was_training = model.training
    model.eval()  # no batch-norm statistics are touched
    try:
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
            model(torch.zeros(input_shape).contiguous(memory_format=memory_format))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return shapes


def bfloat16_gradients_are_wrong(conv, input_shape, memory_format=torch.contiguous_format):
    """True if this convolution's bfloat16 gradients (weight or input) on random data are
    not finite or differ from float32 ones by more than TOLERANCE."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(input_shape, generator=generator).contiguous(memory_format=memory_format)
    weight = conv.weight.detach().float()
    grad_output = None
    grads = []
    for dtype in (torch.float32, torch.bfloat16):
        w = weight.to(dtype).detach().requires_grad_()
        xi = x.to(dtype).detach().requires_grad_()
        out = F.conv3d(xi, w, None, conv.stride, conv.padding, conv.dilation, conv.groups)
        if grad_output is None:
            grad_output = torch.randn(out.shape, generator=generator)
        out.backward(grad_output.to(dtype))
        grads.append((w.grad.float(), xi.grad.float()))
    for exact, approximate in zip(*grads):
        error = (approximate - exact).norm() / exact.norm().clamp_min(1e-30)
        if not torch.isfinite(error) or error > TOLERANCE:
            return True
    return False


class Float32WeightGradient(torch.autograd.Function):
    """conv3d in bfloat16 whose weight (and bias) gradients are computed in float32."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        x16, w16 = x.to(torch.bfloat16), weight.to(torch.bfloat16)
        ctx.save_for_backward(x16, w16)
        ctx.settings, ctx.x_dtype = (stride, padding, dilation, groups), x.dtype
        ctx.weight_shape, ctx.has_bias = weight.shape, bias is not None
        return F.conv3d(x16, w16, None if bias is None else bias.to(torch.bfloat16),
                        stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad):
        x16, w16 = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.nn.grad.conv3d_input(x16.shape, w16, grad.to(torch.bfloat16),
                                                *ctx.settings).to(ctx.x_dtype)
        if ctx.needs_input_grad[1]:
            grad_w = torch.nn.grad.conv3d_weight(x16.float(), ctx.weight_shape, grad.float(),
                                                 *ctx.settings)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.float().sum((0, 2, 3, 4))
        return grad_x, grad_w, grad_b, None, None, None, None


def mixed_forward(conv, x):
    if torch.is_autocast_enabled('cpu') and conv.padding_mode == 'zeros':
        return Float32WeightGradient.apply(x, conv.weight, conv.bias, conv.stride,
                                           conv.padding, conv.dilation, conv.groups)
    return conv._conv_forward(x, conv.weight, conv.bias)


def keep_float32_where_bfloat16_fails(model, input_shape,
                                      memory_format=torch.contiguous_format):
    """Make each Conv3d of `model` whose bfloat16 gradients are wrong at the shapes of an
    `input_shape` batch compute its weight gradient in float32; returns their names."""
    names = {m: name for name, m in model.named_modules()}
    # The fault follows the layer's shape, not the batch size: check with a small batch.
    input_shape = (min(input_shape[0], 2), *input_shape[1:])
    failing = []
    for conv, shape in conv_input_shapes(model, input_shape, memory_format).items():
        if bfloat16_gradients_are_wrong(conv, shape, memory_format):
            conv.forward = types.MethodType(mixed_forward, conv)
            failing.append(names[conv])
    return failing
