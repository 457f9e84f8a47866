"""Seeds derived from others: one 64-bit seed per (seed, key, ...) tuple, independent streams
for different tuples (numpy's ``SeedSequence``)."""

from __future__ import annotations

import numpy as np


def derived_seed(*entropy: int) -> int:
    """A 64-bit seed for ``torch.Generator.manual_seed`` drawn from ``entropy`` (say a seed
    and a process rank, or a seed, a stream key and a sample index)."""
    words = np.random.SeedSequence(list(entropy)).generate_state(2, dtype=np.uint32)
    return int(words[0]) << 32 | int(words[1])
