"""The mini-batches of a training epoch, streamed from the prepared arrays.

Each epoch's batch order is a seeded permutation of the training rows (torch's
``DistributedSampler``: ``randperm`` seeded by ``seed + epoch``), padded to a multiple of the
number of processes; process ``r`` of ``W`` takes the positions ``r, r + W, ...`` in batches
of ``batch_size / W``, so the ``W`` processes together step through the same global batches
of ``batch_size`` rows that one process would, and one process is the case ``W = 1``. A
``DataLoader`` reads each batch with one fancy index into the (memory-mapped) uint8 array,
in worker processes if asked and into pinned memory on CUDA; the images become float on the
device, where augmentation happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from ..utils.distributed import Ranks


def take_rows(images: np.ndarray | torch.Tensor, index: np.ndarray) -> torch.Tensor:
    """The rows ``index`` of ``images`` (a uint8 array or memory map, or a tensor) as a
    tensor of the same dtype; only those rows are read."""
    if isinstance(images, torch.Tensor):
        return images[torch.from_numpy(index)]
    return torch.from_numpy(np.array(images[index]))  # a copy: the map stays read-only


def to_unit_float(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` on ``device`` as float32 in [0, 1] (uint8 is scaled after the copy: a quarter
    of the bytes cross to a GPU)."""
    x = x.to(device, non_blocking=True)
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


class RowReader(Dataset):
    """Images and targets read a batch at a time (``__getitems__``: one fancy index)."""

    def __init__(self, images: np.ndarray | torch.Tensor, targets: torch.Tensor) -> None:
        if len(images) != len(targets):
            raise ValueError("images and targets must have the same length")
        self.images, self.targets = images, targets

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, row: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, t = self.__getitems__([row])
        return x[0], t[0]

    def __getitems__(self, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = np.asarray(rows, dtype=np.int64)
        return take_rows(self.images, index), self.targets[torch.from_numpy(index)]


def _as_read(batch: Any) -> Any:  # the reader already returns whole batches
    return batch


class EpochBatches(Sampler[list[int]]):
    """This process's mini-batches of one epoch (see the module docstring); ``set_epoch``
    chooses the permutation, ``valid`` tells the padding rows of a batch from real ones."""

    def __init__(self, rows: int, *, batch_size: int, seed: int, ranks: Ranks) -> None:
        if batch_size % ranks.world:
            raise ValueError(
                f"batch_size {batch_size} is not divisible by the {ranks.world} processes"
            )
        self.rows, self.ranks = rows, ranks
        self.per_process = batch_size // ranks.world
        self.sampler = DistributedSampler(
            range(rows), num_replicas=ranks.world, rank=ranks.rank, shuffle=True, seed=seed
        )

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.per_process)

    def __iter__(self) -> Iterator[list[int]]:
        order = list(self.sampler)
        for begin in range(0, len(order), self.per_process):
            yield order[begin : begin + self.per_process]

    def valid(self, batch: int, size: int) -> torch.Tensor:
        """Which rows of this process's ``batch``-th batch (0-based, ``size`` rows) are not
        padding: the sampler repeats the first rows of the permutation so that every
        process gets as many; those repeats are trained on but not counted in the epoch's
        statistics."""
        positions = torch.arange(batch * self.per_process, batch * self.per_process + size)
        return self.ranks.rank + positions * self.ranks.world < self.rows


def batch_loader(
    reader: RowReader, batches: EpochBatches, *, workers: int, device: torch.device
) -> DataLoader:
    """The loader of ``batches`` from ``reader``: ``workers`` processes (0: this one), into
    pinned memory when training on CUDA."""
    return DataLoader(
        reader,
        batch_sampler=batches,
        collate_fn=_as_read,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
