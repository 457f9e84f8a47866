"""Attacks: pure functions on images in [0, 1] that return adversarial images in [0, 1]."""

from .common import margin
from .ddn import ddn
from .pgd import pgd

__all__ = ["ddn", "margin", "pgd"]
