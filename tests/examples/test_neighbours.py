"""Neighbour latents (co-occurrence, weight cosine) against dense computations, and their negatives."""

from __future__ import annotations

import numpy as np
import pytest
from examples_cache import dense_to_nonzeros, random_dense, write_cache

from autointerp.examples import ExamplesConfig, NeighboursSource, RecordBuilder
from autointerp.examples.neighbours import CoOccurrenceNeighbours, WeightNeighbours
from autointerp.latents import CacheReader
from autointerp.records import Latent

N_ROWS, CTX, D_SAE, HP = 40, 64, 24, "layers.2"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """Random latents plus a pair that co-fire: latent 1 fires wherever latent 0 does, and elsewhere."""
    rng = np.random.default_rng(11)
    dense = random_dense(rng, N_ROWS * CTX, D_SAE, rng.uniform(0.002, 0.05, D_SAE))
    dense[:, 1] = np.where(dense[:, 0] > 0, 3.0, dense[:, 1])
    dense[: CTX * 20, 0] = 0.0  # latent 0 is silent in the first 20 rows, where latent 1 still fires
    dense[: CTX * 20 : 7, 1] = 40.0  # and latent 1's strongest windows lie there
    tokens = rng.integers(0, 300, (N_ROWS, CTX))
    folder = write_cache(tmp_path_factory.mktemp("nb"), tokens, {HP: dense_to_nonzeros(dense)}, {HP: D_SAE}, n_shards=3)
    return CacheReader(folder), dense


def test_co_occurrence_is_jaccard_of_token_sets(cache):
    reader, dense = cache
    fires = (dense != 0).astype(np.int64)
    shared = fires.T @ fires  # [d_sae, d_sae], fine at this size
    counts = fires.sum(axis=0)
    finder = CoOccurrenceNeighbours(reader, HP)
    for j in range(D_SAE):
        jaccard = shared[j] / np.maximum(counts[j] + counts - shared[j], 1)
        others = [k for k in range(D_SAE) if k != j and shared[j, k] > 0]
        expected = sorted(others, key=lambda k: (-jaccard[k], k))[:5]
        ids, sims = finder.neighbours(j, reader.latent(HP, j).token_index, 5)
        assert ids.tolist() == expected
        np.testing.assert_allclose(sims, jaccard[expected], rtol=1e-6)
    assert finder.neighbours(0, reader.latent(HP, 0).token_index, 1)[0].tolist() == [1]


def test_shared_counts_compiled_and_numpy_match_dense(cache):
    reader, dense = cache
    fires = (dense != 0).astype(np.int64)
    shared = fires.T @ fires
    finder = CoOccurrenceNeighbours(reader, HP)
    for j in range(D_SAE):
        token_index = reader.latent(HP, j).token_index
        np.testing.assert_array_equal(finder.shared_counts(token_index), shared[j])  # compiled (built here)
        np.testing.assert_array_equal(finder._shared_counts_numpy(token_index), shared[j])
    with pytest.raises(ValueError, match="below len"):  # a token past the cache is refused, not read
        finder.shared_counts(np.array([N_ROWS * CTX], np.int64))


@pytest.mark.parametrize("transpose", [False, True])
def test_weight_neighbours_are_cosine_nearest(transpose):
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(300, 16)).astype(np.float32)  # 300 latents, more than one block
    unit = weights / np.linalg.norm(weights, axis=1, keepdims=True)
    cosine = unit @ unit.T
    finder = WeightNeighbours(weights.T if transpose else weights, 300, k=4)
    for j in (0, 17, 255, 256, 299):
        row = cosine[j].copy()
        row[j] = -np.inf
        expected = np.argsort(-row, kind="stable")[:4]
        ids, sims = finder.neighbours(j, np.zeros(0, np.int64), 4)
        assert ids.tolist() == expected.tolist()
        np.testing.assert_allclose(sims, row[expected], rtol=1e-5)


def test_weight_neighbours_reject_a_mismatched_matrix():
    with pytest.raises(ValueError, match="d_sae=10"):
        WeightNeighbours(np.zeros((4, 5)), 10, k=2)


def test_neighbour_negatives_are_the_neighbours_silent_top_windows(cache):
    reader, dense = cache
    config = ExamplesConfig(min_examples=5, n_examples_train=5, n_examples_test=5, n_non_activating=6,
                            n_explainer_negatives=2, non_activating=NeighboursSource(n_neighbours=3))  # fmt: skip
    builder = RecordBuilder(reader, config)
    record = builder.build(Latent(HP, 0))
    negatives = record.explainer_negatives + record.negatives
    assert len(negatives) == 8 and record.negative_shortfall == 0
    column = dense[:, 0].reshape(N_ROWS, CTX)
    neighbour = dense[:, 1].reshape(N_ROWS, CTX)
    for example in negatives:
        assert not column[example.row, example.start : example.start + 32].any()
        assert example.source == "neighbours"
    # round-robin starts with the most similar neighbour (latent 1) at its strongest window
    top_of_1 = builder.top_windows(HP, 1, 1)
    assert neighbour[top_of_1.rows[0], top_of_1.starts[0] : top_of_1.starts[0] + 32].max() == 40.0
    assert (int(top_of_1.rows[0]), int(top_of_1.starts[0])) in {(e.row, e.start) for e in negatives}
    best = max(e.distance for e in negatives)
    assert best == pytest.approx(builder.source._by_hookpoint[HP].neighbours(0, reader.latent(HP, 0).token_index, 1)[1][0])

def test_decoder_similarity_negatives_use_the_given_weights(cache):
    reader, dense = cache
    weights = np.eye(D_SAE, 8, dtype=np.float32)
    weights[1] = weights[0] + 0.01  # latent 1 points the same way as latent 0
    config = ExamplesConfig(min_examples=5, n_examples_train=5, n_examples_test=5, n_non_activating=4,
                            non_activating=NeighboursSource(neighbours_type="decoder_similarity", n_neighbours=1))  # fmt: skip
    record = RecordBuilder(reader, config, decoder_weights={HP: weights}).build(Latent(HP, 0))
    neighbour = dense[:, 1].reshape(N_ROWS, CTX)
    assert len(record.negatives) == 4
    for example in record.negatives:  # all from latent 1's top windows
        assert neighbour[example.row, example.start : example.start + 32].any()
        assert example.distance == pytest.approx(float(weights[0] @ weights[1] / np.linalg.norm(weights[1])), rel=1e-5)


def test_top_windows_surround_the_strongest_tokens(cache):
    reader, dense = cache
    builder = RecordBuilder(reader, ExamplesConfig(min_examples=1, left_context=5))
    for j in range(D_SAE):
        top = builder.top_windows(HP, j, 7)
        column = dense[:, j].reshape(N_ROWS, CTX)
        # expected: strongest tokens first, each kept unless its window overlaps a kept one
        kept = []
        for flat in np.argsort(-column.ravel(), kind="stable")[:28]:
            row, pos = divmod(int(flat), CTX)
            start = min(max(pos - 5, 0), CTX - 32)
            if column[row, pos] > 0 and all(r != row or abs(s - start) >= 32 for r, s in kept):
                kept.append((row, start))
        if len(kept) < 7 and (column > 0).sum() > 28:  # crowded: the full window search decides
            full = builder.windows(reader.latent(HP, j))
            kept = list(zip(full.rows.tolist(), full.starts.tolist()))
            assert j == 1  # the crowded latent of the fixture
        assert list(zip(top.rows.tolist(), top.starts.tolist())) == kept[:7]
        for row, start, peak in zip(top.rows, top.starts, top.max_activation):
            assert column[row, start : start + 32].max() >= peak > 0


def test_neighbour_negatives_share_no_token_with_train_or_test_windows(cache):
    """Neighbours' top windows are centred on other latents' peaks: nothing keeps them off this
    latent's windows but the check (latent 1 fires wherever latent 0 does)."""
    reader, _ = cache
    config = ExamplesConfig(min_examples=5, n_examples_train=10, n_examples_test=10, n_non_activating=20,
                            non_activating=NeighboursSource(n_neighbours=3))
    builder = RecordBuilder(reader, config)
    checked = 0
    for j in range(D_SAE):
        record = builder.build(Latent(HP, j))
        if record is None:
            continue
        used = [(e.row, e.start) for e in record.train + record.test]
        for n in record.negatives + record.explainer_negatives:
            assert not any(r == n.row and abs(s - n.start) < 32 for r, s in used), (j, n.row, n.start)
            checked += 1
    assert checked > 100
