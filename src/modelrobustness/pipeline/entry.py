"""How every stage script runs its stage: an error the user can fix (a parameter, the data
source, a missing upstream output) ends it with one message that names the problem, never a
traceback. Each stage checks its own parameters before it writes anything, and DVC keeps the
previous outputs in place (``persist: true`` in ``dvc.yaml``), so a failed stage loses
nothing."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import Any

from ..utils.errors import UserError
from ..utils.processes import WORKERS_VARIABLE, die_with_launcher, launched_by_torchrun
from .launch import INTERRUPTED_STATUS, launch, limit_threads

# exit status of a stage stopped by a user error (DVC reports it as a failed stage)
USER_ERROR_STATUS = 2

# what the system refused, by errno: (what the stage could not do, what to do about it)
REFUSALS = {
    errno.ENOSPC: ("write", "free some disk space"),
    errno.EDQUOT: ("write", "free some space within your disk quota"),
    errno.EROFS: (
        "write",
        "the file system is mounted read-only: run the pipeline on a writable one",
    ),
    errno.EACCES: (
        "access",
        "give this user permission to read and write it (chmod u+rw, or run as its owner)",
    ),
    errno.EPERM: (
        "access",
        "give this user permission to read and write it (chmod u+rw, or run as its owner)",
    ),
}
KEPT = "the outputs of the last successful run are kept"


def _fail(name: str, message: str, status: int) -> None:
    if not launched_by_torchrun() or os.environ["RANK"] == "0":  # one message per stage
        message = message.replace("\n", "\n  ")
        print(f"{name}: error: {message}", file=sys.stderr)
    sys.exit(status)


def run_stage(
    name: str,
    main: Callable[..., Any],
    *args: str,
    processes: Callable[[], int] | None = None,
) -> None:
    """``main(*args)`` for the stage ``name``; a :class:`UserError` or a missing file, a
    write the system refused (disk full, read-only or foreign folder) and Ctrl-C each end it
    with one message on standard error, never a traceback. Outputs are written atomically,
    so none is left half-written.

    ``processes()`` (read from params.yaml) above 1: the stage starts itself under torchrun
    in that many processes (:mod:`.launch`) and exits with their status. Under torchrun, or
    with ``MODELROBUSTNESS_WORKERS`` set, torch's threads are limited to this process's
    share of the cores."""
    try:
        nproc = processes() if processes is not None else 1
        if nproc > 1 and not launched_by_torchrun():
            sys.exit(launch(nproc))
        if launched_by_torchrun():
            die_with_launcher()  # a killed stage leaves no process behind
        if launched_by_torchrun() or WORKERS_VARIABLE in os.environ:
            limit_threads(nproc)
        main(*args)
    except (UserError, FileNotFoundError) as exc:
        _fail(
            name,
            f"{exc}\n{name}: nothing was written; {KEPT}. `modelrobustness "
            "check-params` checks the whole params.yaml at once.",
            USER_ERROR_STATUS,
        )
    except OSError as exc:
        if exc.errno not in REFUSALS:
            raise
        verb, advice = REFUSALS[exc.errno]
        _fail(
            name,
            f"cannot {verb} {exc.filename or 'a file'}: {exc.strerror}; {advice}, "
            f"then rerun `dvc repro`.\n{name}: nothing was left half-written; {KEPT}.",
            USER_ERROR_STATUS,
        )
    except KeyboardInterrupt:
        _fail(
            name,
            f"interrupted (Ctrl-C); nothing was left half-written and {KEPT}. A "
            "training stage continues from its last finished epoch at the next `dvc repro`.",
            INTERRUPTED_STATUS,
        )
