"""A toy image classification task: four classes of noisy textures."""

from __future__ import annotations


def toy_images(n: int, *, seed: int, size: int = 12, noise: float = 0.5):
    """Four classes of noisy textures: horizontal bars, vertical bars, checkerboard, blob."""
    import torch

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    rows = torch.arange(size)[:, None].expand(size, size)
    cols = torch.arange(size)[None, :].expand(size, size)
    centre = ((rows - size / 2).abs() < 3) & ((cols - size / 2).abs() < 3)
    patterns = torch.stack([rows % 2 == 0, cols % 2 == 0, (rows + cols) % 2 == 0, centre])
    x = 0.25 * patterns[y].float()[:, None] + noise * torch.rand(n, 1, size, size, generator=g)
    return x.clamp(0, 1), y


def two_squares(n: int, *, seed: int):
    """Two classes: a bright square top-left (0) or bottom-right (1) on noise, 1 x 12 x 12."""
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 12, 12, generator=g) * 0.3
    y = torch.arange(n) % 2
    x[y == 0, :, 1:5, 1:5] += 0.6
    x[y == 1, :, 7:11, 7:11] += 0.6
    return x.clamp(0, 1), y


def toy_model(
    *,
    num_classes: int,
    image_size: int = 12,
    arch: str = "vgg_small",
    width: int = 4,
    seed: int = 0,
):
    """A small gray-image classifier (mean and std 0.3) for the toy tasks, its weights drawn
    after ``torch.manual_seed(seed)``: the global generator is left seeded, as by that call."""
    import torch

    from modelrobustness.models import ModelConfig, build_model

    torch.manual_seed(seed)
    config = ModelConfig(
        arch=arch,
        num_classes=num_classes,
        in_channels=1,
        image_size=image_size,
        mean=[0.3],
        std=[0.3],
        width=width,
    )
    return build_model(config)


def two_squares_model():
    """A width-4 vgg_small for :func:`two_squares`, initialised from seed 0."""
    return toy_model(num_classes=2)
