"""The select split: drawn disjoint from train, test and every other negative; absent by default."""

from __future__ import annotations

import numpy as np
import pytest
from examples_cache import dense_to_nonzeros, random_dense, write_cache

from autointerp.examples import ExamplesConfig, RecordBuilder
from autointerp.latents import CacheReader
from autointerp.records import Latent

N_ROWS, CTX, D_SAE, HP, WIDTH = 48, 64, 6, "layers.3", 16


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    rng = np.random.default_rng(9)
    dense = random_dense(rng, N_ROWS * CTX, D_SAE, np.array([0.004, 0.01, 0.02, 0.03, 0.05, 0.08]))
    tokens = rng.integers(0, 500, (N_ROWS, CTX))
    return CacheReader(write_cache(tmp_path_factory.mktemp("cache"), tokens, {HP: dense_to_nonzeros(dense)}, {HP: D_SAE}))


def _config(**overrides) -> ExamplesConfig:
    base = dict(min_examples=20, n_examples_train=8, n_examples_test=10, n_non_activating=10, n_explainer_negatives=4,
                example_ctx_len=WIDTH)
    return ExamplesConfig(**{**base, **overrides})


def _tokens(examples) -> set[tuple[int, int]]:
    """Every (row, position) the windows cover."""
    return {(e.row, e.start + i) for e in examples for i in range(WIDTH)}


@pytest.mark.parametrize("index", range(2, D_SAE))
def test_the_select_split_shares_no_token_with_any_other_window(reader, index):
    record = RecordBuilder(reader, _config(n_examples_select=6)).build(Latent(HP, index))
    assert record is not None
    assert len(record.select) == 6 and len(record.select_negatives) == 6  # 10 * 6 / 10, in proportion
    groups = {"train": record.train, "test": record.test, "select": record.select, "negative": record.negatives,
              "explainer_negative": record.explainer_negatives, "select_negative": record.select_negatives}
    for role, examples in groups.items():
        assert {e.role for e in examples} == {role}
    covered = {role: _tokens(examples) for role, examples in groups.items()}
    roles = list(covered)
    for i, a in enumerate(roles):
        for b in roles[i + 1:]:
            assert not covered[a] & covered[b], (a, b)
    assert all(e.max_activation == 0 for e in record.select_negatives)
    assert all(e.max_activation > 0 for e in record.select)


def test_without_a_select_split_records_are_drawn_as_before(reader):
    plain = RecordBuilder(reader, _config()).build(Latent(HP, 4))
    explicit = RecordBuilder(reader, _config(n_examples_select=0, n_non_activating_select=7)).build(Latent(HP, 4))
    for a, b in ((plain, explicit),):
        assert [e.location for e in a.train + a.test + a.negatives + a.explainer_negatives] == \
               [e.location for e in b.train + b.test + b.negatives + b.explainer_negatives]
    assert plain.select == [] and explicit.select_negatives == []
    assert "select" not in plain.to_dict() and "select_negatives" not in plain.to_dict()


def test_the_test_split_does_not_move_when_a_select_split_is_added(reader):
    plain = RecordBuilder(reader, _config()).build(Latent(HP, 4))
    with_select = RecordBuilder(reader, _config(n_examples_select=6)).build(Latent(HP, 4))
    assert [e.location for e in plain.test] == [e.location for e in with_select.test]
    assert with_select.to_dict()["select"][0]["role"] == "select"
