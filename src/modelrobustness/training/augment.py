"""Per-sample data augmentation drawn from an explicit generator."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def augment_batch(
    x: torch.Tensor, *, crop_padding: int, flip: bool, generator: torch.Generator
) -> torch.Tensor:
    """Per-sample random crop (zero padding ``crop_padding``) and horizontal flip.

    torchvision's batched transforms draw one crop for the whole batch from the global RNG;
    here each image gets its own, drawn from ``generator``.
    """
    n, _, h, w = x.shape
    if crop_padding > 0:
        p = crop_padding
        padded = F.pad(x, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        rows = (dy[:, None] + torch.arange(h)).to(x.device)  # n x h
        cols = (dx[:, None] + torch.arange(w)).to(x.device)  # n x w
        batch = torch.arange(n, device=x.device)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
        x = x.permute(0, 3, 1, 2).contiguous()
    if flip:
        mask = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        x = torch.where(mask[:, None, None, None], x.flip(-1), x)
    return x
