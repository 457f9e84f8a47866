"""Sanity checks of an evaluation: signs that a defense masks gradients instead of holding."""

from __future__ import annotations

# How many points more robust accuracy the naive cross-entropy attack may leave than the
# margin-loss attack before the gap counts as gradient masking.
MASKING_MARGIN = 0.05


def gradient_masking_flag(by_loss: dict[str, float], *,
                          margin: float = MASKING_MARGIN) -> bool | None:
    """True when the naive cross-entropy attack leaves at least ``margin`` more robust
    accuracy than the margin-loss attack: the CE gradient is hiding the model's weakness
    (saturated softmax, as in defensive distillation; Carlini & Wagner 2016). None when the
    two losses were not both run."""
    if "ce" not in by_loss or "margin" not in by_loss:
        return None
    return bool(by_loss["ce"] - by_loss["margin"] >= margin - 1e-12)
