"""How every stage script runs its stage: an error the user can fix (a parameter, the data
source, a missing upstream output) ends it with one message that names the problem, never a
traceback. Each stage checks its own parameters before it writes anything, and DVC keeps the
previous outputs in place (``persist: true`` in ``dvc.yaml``), so a failed stage loses
nothing."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ..utils.errors import UserError

# exit status of a stage stopped by a user error (DVC reports it as a failed stage)
USER_ERROR_STATUS = 2


def run_stage(name: str, main: Callable[..., Any], *args: str) -> None:
    """``main(*args)`` for the stage ``name``; a :class:`UserError` or a missing file is
    printed as ``<name>: error: ...`` and exits with :data:`USER_ERROR_STATUS`."""
    try:
        main(*args)
    except (UserError, FileNotFoundError) as exc:
        message = str(exc).replace("\n", "\n  ")
        print(f"{name}: error: {message}\n{name}: nothing was written; the outputs of the last "
              "successful run are kept. `modelrobustness check-params` checks the whole "
              "params.yaml at once.", file=sys.stderr)
        sys.exit(USER_ERROR_STATUS)
