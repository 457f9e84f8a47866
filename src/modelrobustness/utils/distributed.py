"""The processes of a data-parallel run (PyTorch's ``torch.distributed``, started by
``torchrun``) and what the fit loop exchanges between them: summed statistics and rows
gathered in order.

One process is the special case ``world == 1``: every helper here is then the identity and
touches no process group, so the fit loop has a single code path.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .processes import launched_by_torchrun


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: ``rank`` of ``world`` processes."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """The process that logs and writes (rank 0)."""
        return self.rank == 0


SINGLE = Ranks()


def start(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join the process group torchrun set up (gloo on CPU, nccl on CUDA) and return this
    process's ranks and device (on CUDA, ``cuda:<LOCAL_RANK>``). Outside torchrun: one
    process, ``device`` unchanged."""
    if not launched_by_torchrun():
        return SINGLE, device
    local = int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Ranks(rank=dist.get_rank(), world=dist.get_world_size()), device


def stop() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[tuple[Ranks, torch.device]]:
    """:func:`start`, and :func:`stop` at the end."""
    ranks, device = start(device)
    try:
        yield ranks, device
    finally:
        stop()


def sum_across(values: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """``values`` summed over every process (float64, so counts and sums stay exact)."""
    total = values.detach().double().clone()
    if ranks.world > 1:
        device = _collective_device()
        total = total.to(device)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.cpu()


def gather_rows(local: torch.Tensor, sizes: list[int], ranks: Ranks) -> torch.Tensor:
    """Every process's ``local`` rows, in rank order (rank ``r`` holds ``sizes[r]`` rows):
    the rows of a split shared out with ``tensor_split``, put back together on every
    process."""
    if ranks.world == 1:
        return local
    device = _collective_device()
    width = max(sizes)
    padded = torch.zeros((width, *local.shape[1:]), dtype=local.dtype, device=device)
    padded[: len(local)] = local.to(device)
    pieces = [torch.empty_like(padded) for _ in range(ranks.world)]
    dist.all_gather(pieces, padded)
    return torch.cat([piece[:size] for piece, size in zip(pieces, sizes, strict=True)]).cpu()


def gather_objects(value: object, ranks: Ranks) -> list[object]:
    """Every process's ``value`` (picklable; its own process's only), in rank order."""
    if ranks.world == 1:
        return [value]
    values: list[object] = [None] * ranks.world
    dist.all_gather_object(values, value)
    return values


def shard_sizes(total: int, world: int) -> list[int]:
    """How ``tensor_split`` shares ``total`` rows among ``world`` processes."""
    return [total // world + (1 if r < total % world else 0) for r in range(world)]


def shard_bounds(total: int, ranks: Ranks) -> tuple[int, int]:
    """The rows ``[begin, end)`` of ``total`` that this process takes (``tensor_split``'s
    shares, in rank order)."""
    sizes = shard_sizes(total, ranks.world)
    begin = sum(sizes[: ranks.rank])
    return begin, begin + sizes[ranks.rank]


def _collective_device() -> torch.device:
    # nccl moves CUDA tensors only; gloo CPU ones
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
