"""RowSampler: every row exactly once across ranks, no padding, Lightning leaves it alone."""

import pytest
from torch.utils.data import DistributedSampler

from autointerp.data.sampler import RowSampler, share_bounds


@pytest.mark.parametrize("world_size", [1, 2, 3])
@pytest.mark.parametrize("n_rows", [0, 1, 2, 7, 10, 11])
@pytest.mark.parametrize("shuffle", [False, True])
def test_every_row_once_without_padding(world_size, n_rows, shuffle):
    shares = [list(RowSampler(n_rows, r, world_size, shuffle=shuffle, seed=5)) for r in range(world_size)]
    flat = [i for share in shares for i in share]
    assert sorted(flat) == list(range(n_rows)), "each row exactly once"
    sizes = [len(s) for s in shares]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == [len(RowSampler(n_rows, r, world_size)) for r in range(world_size)]
    if not shuffle:
        assert flat == list(range(n_rows)), "contiguous blocks in rank order"


def test_uneven_shares_for_three_ranks():
    assert [share_bounds(10, r, 3) for r in range(3)] == [(0, 3), (3, 6), (6, 10)]
    assert [list(RowSampler(10, r, 3)) for r in range(3)] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_even_mode_for_training_drops_the_remainder(world_size):
    shares = [list(RowSampler(11, r, world_size, shuffle=True, seed=3, even=True)) for r in range(world_size)]
    assert {len(s) for s in shares} == {11 // world_size}
    flat = [i for s in shares for i in s]
    assert len(set(flat)) == len(flat) == (11 // world_size) * world_size


def test_shuffle_depends_on_seed_and_epoch():
    a, b, c = RowSampler(50, shuffle=True, seed=1), RowSampler(50, shuffle=True, seed=1), RowSampler(50, shuffle=True, seed=2)
    assert list(a) == list(b) != list(c) and sorted(a) == list(range(50))
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first and sorted(a) == list(range(50))


def test_is_a_distributed_sampler_so_lightning_does_not_replace_it():
    assert isinstance(RowSampler(4, 1, 2), DistributedSampler)
    with pytest.raises(ValueError, match="rank 2 / world_size 2"):
        RowSampler(4, 2, 2)
