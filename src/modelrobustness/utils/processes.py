"""How many processes and threads a stage may use, read without importing torch: whether
this process was started by ``torchrun``, the cores it may run on, and each process's share
of them when several pipelines (DVC queue workers) share the machine."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Mapping

from .errors import UserError

# what torchrun sets in each process it starts
RANK_VARIABLES: tuple[str, ...] = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
# the number of queue workers (or other pipelines) sharing this machine's cores
WORKERS_VARIABLE = "MODELROBUSTNESS_WORKERS"
# the process id of the stage process that started torchrun's processes
LAUNCHER_VARIABLE = "MODELROBUSTNESS_LAUNCHER_PID"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def launched_by_torchrun(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process was started by ``torchrun`` (its variables are set)."""
    return all(name in environ for name in RANK_VARIABLES)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def sharing_workers(environ: Mapping[str, str] = os.environ) -> int:
    """``MODELROBUSTNESS_WORKERS`` (1 when unset); anything but a positive integer is an
    error naming the variable."""
    value = environ.get(WORKERS_VARIABLE, "1")
    if not value.isdigit() or int(value) < 1:
        raise UserError(
            f"{WORKERS_VARIABLE}={value!r}: expected a positive integer (the number of DVC "
            "queue workers sharing this machine, as given to `dvc queue start -j`)"
        )
    return int(value)


def threads_per_process(nproc: int, *, cores: int | None = None, workers: int = 1) -> int:
    """Each of ``nproc`` processes' share of ``cores`` among ``workers`` pipelines (at
    least one thread)."""
    cores = available_cores() if cores is None else cores
    return max(1, cores // (nproc * workers))


def die_with_launcher(environ: Mapping[str, str] = os.environ) -> None:
    """In a process torchrun started for a stage: be killed when the stage process dies.

    torchrun starts each process in a session of its own, so a stage process killed with
    SIGKILL (a crash, an out-of-memory kill, ``kill -9`` of ``dvc repro``) would leave them
    running on, writing outputs DVC no longer waits for. Linux's ``PR_SET_PDEATHSIG`` kills
    this process with its parent instead; elsewhere nothing changes."""
    launcher = environ.get(LAUNCHER_VARIABLE)
    if launcher is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != int(launcher):  # the launcher died before the call
        os._exit(1)
