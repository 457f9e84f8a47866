"""Defenses: feature squeezing detection and defensive distillation."""

from .distillation import soft_cross_entropy, soft_labels, temperature_cross_entropy
from .squeezing import (
    SqueezeDetector,
    bit_depth,
    median_filter,
    parse_squeezer,
    resample,
    straight_through_score,
)

__all__ = [
    "SqueezeDetector",
    "bit_depth",
    "median_filter",
    "parse_squeezer",
    "resample",
    "soft_cross_entropy",
    "soft_labels",
    "straight_through_score",
    "temperature_cross_entropy",
]
