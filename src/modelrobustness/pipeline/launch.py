"""How a stage runs in several processes: it starts ``torchrun`` on its own script, so
``dvc repro`` and ``dvc.yaml`` stay the same whatever ``train.nproc`` says; and how many
torch threads each process may use.

The launch is torchrun's own (``torch.distributed.run``'s arguments and its elastic agent,
as ``--standalone`` sets them: one machine, a free port); a failed process stops the others, and the
stage exits with that process's status after its own one-line message, without the agent's
traceback.

Threads: each of the ``nproc`` processes gets an equal share of the cores this process may
run on, further divided by ``MODELROBUSTNESS_WORKERS`` when several DVC queue workers
(``dvc queue start -j N``) share the machine.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid

from ..utils.processes import (
    LAUNCHER_VARIABLE,
    launched_by_torchrun,
    sharing_workers,
    threads_per_process,
)

# exit status of a stage stopped by a signal (the shell's 128 + SIGINT)
INTERRUPTED_STATUS = 130


def limit_threads(nproc: int = 1) -> int:
    """Set torch's thread count to this process's share (torchrun's processes: their
    ``OMP_NUM_THREADS``, set by :func:`launch`); returns it."""
    import torch

    if launched_by_torchrun() and "OMP_NUM_THREADS" in os.environ:
        threads = int(os.environ["OMP_NUM_THREADS"])
    else:
        threads = threads_per_process(nproc, workers=sharing_workers())
    torch.set_num_threads(threads)
    return threads


def launch(nproc: int, argv: list[str] | None = None) -> int:
    """Run this stage's script (``argv``: default ``sys.argv``) in ``nproc`` processes
    under torchrun on this machine and wait; return the exit status (0, or that of the
    first process that failed)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch
    from torch.distributed.run import config_from_args, get_args_parser

    # the agent's own log lines (a signal received, workers stopped) say what the stage's
    # one-line message says already
    for name in list(logging.root.manager.loggerDict):  # each sets its own level
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    argv = list(sys.argv if argv is None else argv)
    threads = threads_per_process(nproc, workers=sharing_workers())
    os.environ["OMP_NUM_THREADS"] = str(threads)  # the processes inherit it
    os.environ[LAUNCHER_VARIABLE] = str(os.getpid())  # they die with this process
    # what `torchrun --standalone` means: one machine, a c10d rendezvous on a free port
    standalone = ["--rdzv-backend=c10d", "--rdzv-endpoint=localhost:0", f"--rdzv-id={uuid.uuid4()}"]
    args = get_args_parser().parse_args(
        [*standalone, f"--nproc-per-node={nproc}", "--monitor-interval=0.5", *argv]
    )
    config, command, command_args = config_from_args(args)
    try:
        elastic_launch(config, command)(*command_args)
    except ChildFailedError as exc:  # the process said why on its standard error
        _, failure = exc.get_first_failure()
        return failure.exitcode if failure.exitcode > 0 else 1
    except SignalException:  # Ctrl-C or a kill: the processes were stopped with it
        return INTERRUPTED_STATUS
    return 0
