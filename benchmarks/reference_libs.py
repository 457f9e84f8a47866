"""Import the reference attack libraries (test-only dependencies), for the benchmarks and
the tests alike.

adv-lib imports visdom at import time for an optional logger; visdom's sdist no longer
builds, so requirements-reference.txt installs adv-lib without it and a stub stands in.
"""

from __future__ import annotations

import importlib
import sys
import types


def adv_lib_attacks():
    """``adv_lib.attacks`` with a stub ``visdom`` module when the real one is missing."""
    try:
        importlib.import_module("visdom")
    except ImportError:
        sys.modules["visdom"] = types.ModuleType("visdom")
    return importlib.import_module("adv_lib.attacks")


def torchattacks():
    return importlib.import_module("torchattacks")
