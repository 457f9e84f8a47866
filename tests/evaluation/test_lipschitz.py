"""Lipschitz estimates: the convolution's operator norm against its explicit matrix."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelrobustness.evaluation.lipschitz import (
    conv_operator_norm,
    lipschitz_upper_bound,
    local_lipschitz_estimate,
)

from helpers.toy_data import toy_model


def _explicit_matrix(conv: nn.Conv2d, shape) -> torch.Tensor:
    n = int(torch.tensor(shape).prod())
    basis = torch.eye(n).view(n, *shape)
    with torch.no_grad():
        out = nn.functional.conv2d(basis, conv.weight, None, conv.stride, conv.padding)
    return out.flatten(1).T  # columns: images of the basis vectors


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 1), (1, 0), (2, 0)])
def test_conv_operator_norm_matches_svd(stride, padding):
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, stride=stride, padding=padding, bias=False)
    shape = (2, 7, 6)
    exact = float(torch.linalg.matrix_norm(_explicit_matrix(conv, shape), ord=2))
    estimate = conv_operator_norm(conv, shape)  # the defaults, as the evaluate stage uses
    assert estimate == pytest.approx(exact, rel=1e-5)
    assert conv_operator_norm(conv, shape, max_iterations=3) < estimate  # it converges


@pytest.mark.parametrize("arch", ["vgg_small", "resnet18"])
def test_upper_bound_above_empirical(toy_classifier, arch):
    model, x, y = toy_classifier
    if arch == "resnet18":
        model = toy_model(arch="resnet18", num_classes=4, width=32).eval()
    bound = lipschitz_upper_bound(model, x)
    local = local_lipschitz_estimate(model, x, y)
    # the margin is a difference of two logits: at most sqrt(2) times the logits' constant
    assert 0 < local <= 2**0.5 * bound
