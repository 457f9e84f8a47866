"""Attacks: pure functions on images in [0, 1] that return adversarial images in [0, 1].

One file per method (``pgd``, ``ddn``, ``adaptive``); the shared pieces live in ``losses``
(objectives, success test) and ``base`` (input checks, the working-set loop).
"""

from .adaptive import bpda_pgd
from .ddn import ddn
from .losses import margin
from .pgd import pgd

__all__ = ["bpda_pgd", "ddn", "margin", "pgd"]
