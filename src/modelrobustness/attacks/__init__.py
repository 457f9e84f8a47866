"""Attacks: pure functions on images in [0, 1] that return adversarial images in [0, 1].

One file per method (``pgd``, ``apgd``, ``square``, ``ddn``, ``adaptive``); the shared pieces
live in ``losses`` (objectives, success test), ``ball`` (projection, random starts) and
``base`` (input checks, the working-set loop).
"""

from .adaptive import bpda_pgd
from .apgd import apgd
from .ddn import ddn
from .losses import dlr, margin
from .pgd import pgd
from .square import square

__all__ = ["apgd", "bpda_pgd", "ddn", "dlr", "margin", "pgd", "square"]
