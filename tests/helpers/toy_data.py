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
