"""The inference copy the attack and detector stages use: the same function (logits,
predictions, input gradients) as the trained model, without its batch norms, and the
original left exactly as it was."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelrobustness.models import ModelConfig, build_model
from modelrobustness.models.inference import inference_copy


def _trained_like(arch: str, channels: int) -> nn.Module:
    """A model whose batch norms hold non-trivial statistics and affine parameters (fresh
    ones are the identity, which would hide a wrong fold)."""
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(
            arch=arch,
            num_classes=5,
            in_channels=channels,
            image_size=16,
            mean=[0.4] * channels,
            std=[0.25] * channels,
            width=8,
        )
    )
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator) * 0.5)
            module.running_var.copy_(torch.rand(size, generator=generator) * 2 + 0.1)
            module.weight.data.copy_(torch.randn(size, generator=generator))
            module.bias.data.copy_(torch.randn(size, generator=generator) * 0.3)
    return model.eval()


@pytest.mark.parametrize(
    ("arch", "channels"), [("vgg_small", 1), ("vgg_small", 3), ("resnet18", 3)]
)
def test_same_function_without_batch_norm(arch: str, channels: int) -> None:
    model = _trained_like(arch, channels)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copy = inference_copy(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in copy.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    convs = [m for m in copy.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(
        m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs
    )  # on CPU
    assert not any(p.requires_grad for p in copy.parameters())

    x = torch.rand(64, channels, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, got = model(x), copy(x)
    scale = expected.abs().max()
    assert (got - expected).abs().max() <= 1e-5 * scale
    top2 = expected.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1]) > 1e-4 * scale  # ties may round either way
    assert clear.sum() > 50
    assert torch.equal(got.argmax(1)[clear], expected.argmax(1)[clear])

    y = expected.argmax(1)
    grads = []
    for net in (model, copy):
        xg = x.clone().requires_grad_()
        (grad,) = torch.autograd.grad(nn.functional.cross_entropy(net(xg), y), xg)
        grads.append(grad)
    assert (grads[1] - grads[0]).norm() <= 1e-4 * grads[0].norm()

    # the original: same values, same mode, its parameters still trainable
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not model.training and all(p.requires_grad for p in model.parameters())
    assert all(m.weight.is_contiguous() for m in model.modules() if isinstance(m, nn.Conv2d))


def test_copy_of_a_model_in_train_mode_is_in_eval_mode() -> None:
    model = _trained_like("vgg_small", 1).train()
    copy = inference_copy(model)
    assert model.training and not copy.training
    x = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model.eval()(x)
        assert torch.allclose(copy(x), expected, rtol=1e-4, atol=1e-5 * expected.abs().max())
