"""Lipschitz estimates of a classifier w.r.t. the L2 norm of its [0, 1] input.

- ``lipschitz_upper_bound``: the product of per-layer operator norms (Szegedy et al. 2014,
  Sec. 4.3). A convolution's norm is found by power iteration on the convolution *as an
  operator* on inputs of its real shape (conv2d, then its adjoint conv_transpose2d), not on
  the reshaped kernel, which can under- or over-state it. Residual blocks contribute
  ||shortcut|| + ||branch||.
- ``local_lipschitz_estimate``: the largest input-gradient L2 norm of the logit margin over
  given points, a lower estimate of the local Lipschitz constant of that margin.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks.losses import margin
from ..models.inference import inference_copy
from ..utils.torch import eval_mode


def conv_operator_norm(
    conv: nn.Conv2d,
    input_shape: tuple[int, int, int],
    *,
    max_iterations: int = 1000,
    tol: float = 1e-6,
    seed: int = 0,
) -> float:
    """Largest singular value of ``conv`` (bias ignored) on inputs of shape C x H x W.

    Power iteration approaches it from below: it runs until the estimate changes by less
    than ``tol`` (relative) between iterations, or ``max_iterations``."""
    generator = torch.Generator().manual_seed(seed)
    weight = conv.weight.detach()
    v = torch.randn((1, *input_shape), generator=generator).to(weight)
    v = v / v.norm()

    def forward(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)

    out_shape = forward(v).shape
    sigma = 0.0
    for _ in range(max_iterations):
        u = forward(v)
        previous, sigma = sigma, float(u.norm())
        if abs(sigma - previous) <= tol * sigma:
            break
        u = u / max(sigma, 1e-12)
        # the adjoint of a strided convolution: a transposed convolution of matching size
        back = F.conv_transpose2d(
            u,
            weight,
            None,
            conv.stride,
            conv.padding,
            output_padding=_output_padding(conv, input_shape, out_shape),
            groups=conv.groups,
            dilation=conv.dilation,
        )
        v = back / max(float(back.norm()), 1e-12)
    return float(forward(v).norm())


def _output_padding(conv: nn.Conv2d, input_shape, out_shape) -> tuple[int, int]:
    pads = []
    for axis in range(2):
        size = input_shape[1 + axis]
        stride, pad = conv.stride[axis], conv.padding[axis]
        kernel, dil = conv.kernel_size[axis], conv.dilation[axis]
        natural = (out_shape[2 + axis] - 1) * stride - 2 * pad + dil * (kernel - 1) + 1
        pads.append(size - natural)
    return pads[0], pads[1]


def _batchnorm_norm(bn: nn.BatchNorm2d) -> float:
    scale = bn.weight.detach().abs() / torch.sqrt(bn.running_var + bn.eps)
    return float(scale.max())


class _Shapes:
    """Input shapes of every module, recorded in one forward pass."""

    def __init__(self, model: nn.Module, example: torch.Tensor) -> None:
        self.shapes: dict[nn.Module, tuple[int, ...]] = {}
        hooks = [m.register_forward_hook(self._hook) for m in model.modules()]
        try:
            with torch.no_grad(), eval_mode(model):
                model(example)
        finally:
            for hook in hooks:
                hook.remove()

    def _hook(self, module, inputs, output) -> None:
        self.shapes.setdefault(module, tuple(inputs[0].shape[1:]))


def _is_resnet_block(module: nn.Module) -> bool:
    """Whether ``module`` is torchvision's ResNet ``BasicBlock``, without importing torchvision
    (about 3 s here, for its ops): a model holding one has already loaded the module."""
    resnet = sys.modules.get("torchvision.models.resnet")
    return resnet is not None and isinstance(module, resnet.BasicBlock)


def _module_bound(module: nn.Module, shapes: _Shapes) -> float:
    from ..models.classifier import Classifier
    from ..models.networks import Normalize, VGGSmall

    if isinstance(module, Classifier):
        return _module_bound(module.normalize, shapes) * _module_bound(module.backbone, shapes)
    if isinstance(module, Normalize):
        return float((1.0 / module.std).max())
    if isinstance(module, nn.Conv2d):
        return conv_operator_norm(module, shapes.shapes[module])
    if isinstance(module, nn.BatchNorm2d):
        return _batchnorm_norm(module)
    if isinstance(module, nn.Linear):
        return float(torch.linalg.matrix_norm(module.weight.detach(), ord=2))
    if isinstance(module, (nn.ReLU, nn.Flatten, nn.Identity)):
        return 1.0
    if isinstance(module, nn.MaxPool2d):
        # non-overlapping windows pick one entry each: 1-Lipschitz in L2
        k, s = module.kernel_size, module.stride
        if k != s:
            raise NotImplementedError("overlapping max-pooling is not supported")
        return 1.0
    if isinstance(module, nn.AdaptiveAvgPool2d):
        c, h, w = shapes.shapes[module]
        out = (
            module.output_size
            if isinstance(module.output_size, tuple)
            else (module.output_size, module.output_size)
        )
        if tuple(out) != (1, 1):
            raise NotImplementedError("only global average pooling is supported")
        return 1.0 / (h * w) ** 0.5
    if _is_resnet_block(module):
        branch = (
            _module_bound(module.conv1, shapes)
            * _module_bound(module.bn1, shapes)
            * _module_bound(module.conv2, shapes)
            * _module_bound(module.bn2, shapes)
        )
        shortcut = 1.0 if module.downsample is None else _module_bound(module.downsample, shapes)
        return shortcut + branch
    if isinstance(module, (nn.Sequential, VGGSmall)):
        bound = 1.0
        for child in module.children():
            bound *= _module_bound(child, shapes)
        return bound
    if type(module).__name__ == "ResNet":
        bound = 1.0
        for name in (
            "conv1",
            "bn1",
            "relu",
            "maxpool",
            "layer1",
            "layer2",
            "layer3",
            "layer4",
            "avgpool",
            "fc",
        ):
            bound *= _module_bound(getattr(module, name), shapes)
        return bound
    raise NotImplementedError(f"no Lipschitz bound for {type(module).__name__}")


def lipschitz_upper_bound(model: nn.Module, example: torch.Tensor) -> float:
    """Upper bound on ||f(x) - f(x')||_2 / ||x - x'||_2 for the logits f of ``model``.

    ``example`` (one or more inputs) fixes the input shape the convolutions act on.
    """
    return _module_bound(model, _Shapes(model, example[:1]))


def local_lipschitz_estimate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 200
) -> float:
    """max_i ||grad_x (max_{j != y_i} z_j - z_{y_i})(x_i)||_2 over the given points."""
    best = 0.0
    with eval_mode(model), torch.enable_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size].detach().clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(margin(model(xb), y[i : i + batch_size]).sum(), xb)
            best = max(best, float(grad.flatten(1).norm(dim=1).max()))
    return best


def lipschitz_estimates(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 200
) -> dict[str, float]:
    """Both estimates for one model: ``lipschitz_upper_bound`` (global, from the layer
    norms) and ``local_lipschitz`` (over the points ``x`` with labels ``y``). The local
    estimate's gradients run through the model's inference copy (batch norms folded,
    channels-last on CPU): the same function up to float rounding, at about half the cost;
    the bound needs the layers as they are."""
    fast = inference_copy(model)
    return {
        "lipschitz_upper_bound": lipschitz_upper_bound(model, x[:1]),
        "local_lipschitz": local_lipschitz_estimate(fast, x, y, batch_size=batch_size),
    }
