"""A rank-aware sampler that gives every row to exactly one rank, without padding.

torch's `DistributedSampler` pads the last share by repeating rows. This one subclasses it only so
that Lightning sees a distributed sampler already in place and leaves it alone; its own
`__iter__`/`__len__` hand rank r the contiguous block [r * n // W, (r + 1) * n // W) of the
(optionally shuffled) row order, so shares differ by at most one row.
`even=True` (for training, where DDP needs equal step counts) drops the n % W last rows instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DistributedSampler


def share_bounds(n: int, rank: int, world_size: int, even: bool = False) -> tuple[int, int]:
    """Start and end of rank's block among n items."""
    if even:
        per_rank = n // world_size
        return rank * per_rank, (rank + 1) * per_rank
    return rank * n // world_size, (rank + 1) * n // world_size


class RowSampler(DistributedSampler):
    """Each rank's rows, once each across ranks; shuffled per epoch with `seed` when asked."""

    def __init__(self, n_rows: int, rank: int = 0, world_size: int = 1, *, shuffle: bool = False,
                 seed: int = 0, even: bool = False) -> None:
        """`n_rows`: dataset length; `even`: equal shares (drops up to world_size - 1 rows)."""
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} / world_size {world_size} are inconsistent")
        # Deliberately not calling DistributedSampler.__init__: it needs a dataset and may query
        # torch.distributed; we set the attributes Lightning and users read.
        self.n_rows, self.rank, self.num_replicas = n_rows, rank, world_size
        self.shuffle, self.seed, self.even, self.epoch = shuffle, seed, even, 0
        self.drop_last = even
        start, end = share_bounds(n_rows, rank, world_size, even)
        self.num_samples, self.total_size = end - start, n_rows

    def __iter__(self) -> Iterator[int]:
        """Row indices of this rank, in order (or shuffled by seed + epoch)."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n_rows, generator=generator)
        else:
            order = torch.arange(self.n_rows)
        start, end = share_bounds(self.n_rows, self.rank, self.num_replicas, self.even)
        return iter(order[start:end].tolist())

    def __len__(self) -> int:
        """Rows of this rank."""
        return self.num_samples
