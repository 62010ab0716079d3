"""RecordBuilder on synthetic caches: every record checked against the dense activations."""

from __future__ import annotations

import numpy as np
import pytest
from examples_cache import dense_to_nonzeros, random_dense, write_cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autointerp.examples import (ExamplesConfig, FaissSource, MixSampler, NeighboursSource, QuantileSampler, RandomSampler,
                                 RecordBuilder, TopSampler)
from autointerp.examples.samplers import quantile_bins
from autointerp.examples.windows import find_windows
from autointerp.latents import CacheReader
from autointerp.records import Latent

N_ROWS, CTX, D_SAE, HP = 48, 64, 10, "layers.3"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A 2-shard cache whose latents fire at rates from very rare to very common."""
    rng = np.random.default_rng(5)
    rates = np.array([0.0005, 0.004, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.3, 0.9])
    dense = random_dense(rng, N_ROWS * CTX, D_SAE, rates)
    tokens = rng.integers(0, 500, (N_ROWS, CTX))
    folder = write_cache(tmp_path_factory.mktemp("cache"), tokens, {HP: dense_to_nonzeros(dense)}, {HP: D_SAE})
    return CacheReader(folder), dense.reshape(N_ROWS, CTX, D_SAE), tokens


SAMPLERS = {"top": TopSampler, "random": RandomSampler, "quantiles": QuantileSampler, "mix": MixSampler}


def _config(**overrides) -> ExamplesConfig:
    base = dict(min_examples=30, n_examples_train=12, n_examples_test=15, n_quantiles=5, n_non_activating=8, n_explainer_negatives=4)
    base.update(overrides)
    return ExamplesConfig(**base)


def _check_record(record, config, dense, tokens):
    """Every property the issue asks for, against the dense activations [rows, ctx, d_sae]."""
    j, width = record.latent.index, config.example_ctx_len
    column = dense[:, :, j]
    peak = column.max()
    activating = record.train + record.test
    for example in activating:
        window = column[example.row, example.start : example.start + width]
        np.testing.assert_array_equal(example.activations, window)
        np.testing.assert_array_equal(example.tokens, tokens[example.row, example.start : example.start + width])
        np.testing.assert_array_equal(example.normalized, np.clip(np.rint(window * 10 / peak), 0, 10))
        assert example.normalized.min() >= 0 and example.normalized.max() <= 10
        assert window.max() > 0
    for part in (record.train, record.test):  # sorted by activation; quantiles monotone with it
        assert all(a.max_activation >= b.max_activation for a, b in zip(part, part[1:]))
        assert all(a.quantile <= b.quantile for a, b in zip(part, part[1:]))
    spans = [(e.row, e.start) for e in activating]
    assert len(set(spans)) == len(spans)  # train and test disjoint
    for i, (r1, s1) in enumerate(spans):  # and no two windows of the latent overlap
        assert all(r1 != r2 or abs(s1 - s2) >= width for r2, s2 in spans[i + 1 :])
    negatives = record.explainer_negatives + record.negatives
    for example in negatives:  # truly zero for the latent over the whole window
        assert not column[example.row, example.start : example.start + width].any()
        assert not example.activations.any() and len(example.tokens) == width
    neg_spans = [(e.row, e.start) for e in negatives]
    for i, (r1, s1) in enumerate(neg_spans):  # explainer and scorer negatives never share a token
        assert all(r1 != r2 or abs(s1 - s2) >= width for r2, s2 in neg_spans[i + 1 :])
    assert {e.role for e in record.train} <= {"train"} and {e.role for e in record.test} <= {"test"}
    assert {e.role for e in record.explainer_negatives} <= {"explainer_negative"}
    assert {e.role for e in record.negatives} <= {"negative"}
    assert len(negatives) + record.negative_shortfall == config.n_non_activating + config.n_explainer_negatives
    nonzero = column[column != 0]
    assert record.n_nonzero == len(nonzero) and record.max_activation == nonzero.max()
    assert record.firing_rate == pytest.approx(len(nonzero) / column.size)
    assert record.mean_activation == pytest.approx(nonzero.mean(), rel=1e-5)


@pytest.mark.parametrize("train_type", ["top", "random", "quantiles", "mix"])
@pytest.mark.parametrize("center", [True, False])
def test_records_have_every_property(cache, train_type, center):
    reader, dense, tokens = cache
    config = _config(train_sampler=SAMPLERS[train_type](), center_examples=center, example_ctx_len=16)
    builder = RecordBuilder(reader, config)
    built = [builder.build(latent) for latent in builder.select_latents()]
    records = [r for r in built if r is not None]
    assert 3 <= len(records) < D_SAE
    for record in records:
        _check_record(record, config, dense, tokens)
        assert len(record.train) == 12 and len(record.test) == 15
    assert builder.skipped[HP] == [i for i, r in enumerate(built) if r is None]
    assert all(Latent(HP, i) in builder.skip_reasons for i in builder.skipped[HP])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    width=st.integers(4, 64),
    left=st.integers(0, 63),
    center=st.booleans(),
    train_type=st.sampled_from(["top", "random", "quantiles", "mix"]),
    n_quantiles=st.integers(1, 12),
    n_negatives=st.integers(0, 30),
    n_explainer=st.integers(0, 10),
    seed=st.integers(0, 1000),
)
def test_record_properties_hold_for_any_setting(cache, width, left, center, train_type, n_quantiles, n_negatives, n_explainer, seed):
    reader, dense, tokens = cache
    config = _config(
        example_ctx_len=width, left_context=min(left, width - 1), center_examples=center, train_sampler=SAMPLERS[train_type](),
        n_quantiles=n_quantiles, n_non_activating=n_negatives, n_explainer_negatives=n_explainer, min_examples=5, seed=seed,
    )  # fmt: skip
    builder = RecordBuilder(reader, config)
    for index in (1, 4, 7, 9):
        record = builder.build(Latent(HP, index))
        if record is not None:
            _check_record(record, config, dense, tokens)


def test_quantiles_and_top_sampling_follow_the_windows(cache):
    reader, dense, tokens = cache
    config = _config(train_sampler=TopSampler())
    record = RecordBuilder(reader, config).build(Latent(HP, 6))
    acts = reader.latent(HP, 6)
    windows = find_windows(acts.token_index, acts.activations, CTX, config.example_ctx_len, True, config.left)
    bins = quantile_bins(len(windows), config.n_quantiles)
    location = {(int(r), int(s)): i for i, (r, s) in enumerate(zip(windows.rows, windows.starts))}
    for example in record.train + record.test:
        assert example.quantile == bins[location[(example.row, example.start)]]
    assert [e.quantile for e in record.test] == sorted(np.repeat(np.arange(5), 3))  # equal per bin
    # "top": the train windows are the strongest windows not taken by the test set
    test_ids = {location[(e.row, e.start)] for e in record.test}
    pool = [i for i in range(len(windows)) if i not in test_ids]
    assert [location[(e.row, e.start)] for e in record.train] == pool[:12]
    assert record.n_activating == len(windows)


def test_mix_takes_its_top_share_then_quantiles(cache):
    reader, _, _ = cache
    record = RecordBuilder(reader, _config(train_sampler=MixSampler(ratio_top=0.5))).build(Latent(HP, 7))
    top = RecordBuilder(reader, _config(train_sampler=TopSampler())).build(Latent(HP, 7))
    # same test draw (same seed, test drawn first), so the top 6 of the pool match the top sampler's
    assert [(e.row, e.start) for e in record.test] == [(e.row, e.start) for e in top.test]
    assert [(e.row, e.start) for e in record.train[:6]] == [(e.row, e.start) for e in top.train[:6]]


def test_records_are_reproducible_and_independent_of_order(cache):
    reader, _, _ = cache
    config = _config(train_sampler=RandomSampler())
    latents = RecordBuilder(reader, config).select_latents()
    forward = [RecordBuilder(reader, config).build(lat) for lat in latents]
    backward = RecordBuilder(reader, config)
    reverse = [backward.build(lat) for lat in reversed(latents)][::-1]
    for a, b in zip(forward, reverse):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.to_dict() == b.to_dict()
    other = RecordBuilder(reader, _config(train_sampler=RandomSampler(), seed=23)).build(latents[7])
    assert other.to_dict() != forward[7].to_dict()


def test_shortfall_is_recorded_not_raised(cache):
    reader, dense, tokens = cache
    config = _config(n_non_activating=40, n_explainer_negatives=10)
    record = RecordBuilder(reader, config).build(Latent(HP, 9))  # fires on 90% of tokens
    assert record is not None
    assert record.negative_shortfall > 0
    _check_record(record, config, dense, tokens)


def test_select_latents(cache):
    reader, _, _ = cache
    builder = RecordBuilder(reader, _config())
    assert builder.select_latents(max_latents=3) == [Latent(HP, i) for i in range(3)]
    assert builder.select_latents(latents={HP: [4, 2]}) == [Latent(HP, 4), Latent(HP, 2)]
    assert len(builder.select_latents()) == D_SAE
    with pytest.raises(ValueError, match="layers.9"):
        builder.select_latents(hookpoints=["layers.9"])
    with pytest.raises(ValueError, match=r"outside \[0, 10\)"):
        builder.select_latents(latents={HP: [10]})


def test_skipped_latents_are_counted_with_reasons(cache):
    reader, _, _ = cache
    builder = RecordBuilder(reader, _config(min_examples=200))
    assert builder.build(Latent(HP, 0)) is None
    assert builder.skipped == {HP: [0]}
    assert "min_examples=200" in builder.skip_reasons[Latent(HP, 0)]
    assert builder.summary()["n_skipped"] == 1


def test_a_latent_whose_windows_all_go_to_test_is_skipped_with_its_reason(cache):
    """min_examples below n_examples_test: a rare latent's windows all land in the test split, so it
    is skipped with the reason (the explainer would otherwise fail on an empty train split)."""
    reader, _, _ = cache
    builder = RecordBuilder(reader, _config(min_examples=1, n_examples_test=200))
    n_windows = len(builder.windows(reader.latent(HP, 1)))
    assert 0 < n_windows <= 200
    assert builder.build(Latent(HP, 1)) is None
    assert builder.skipped == {HP: [1]}
    assert f"{n_windows} activating windows all went to the held-out splits" in builder.skip_reasons[Latent(HP, 1)]
    assert RecordBuilder(reader, _config(min_examples=1, n_examples_test=max(n_windows - 1, 0))).build(Latent(HP, 1)).train


def test_str_tokens_use_the_tokenizer(cache):
    reader, _, tokens = cache

    class Digits:
        def decode(self, ids):
            return "<" + "|".join(str(i) for i in ids) + ">"

    record = RecordBuilder(reader, _config(), Digits()).build(Latent(HP, 6))
    for example in record.train + record.negatives:
        assert example.str_tokens == tuple(f"<{t}>" for t in example.tokens.tolist())


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        (dict(min_examples=-1), "min_examples"),
        (dict(n_quantiles=0), "n_quantiles"),
        (dict(example_ctx_len=0), "example_ctx_len"),
        (dict(left_context=32), "left_context"),
        (dict(n_explainer_negatives=1.5), "n_explainer_negatives"),
        (dict(center_examples="yes"), "center_examples"),
    ],
)
def test_config_errors_name_the_setting(overrides, setting):
    with pytest.raises(ValueError, match=setting):
        ExamplesConfig(**overrides)


@pytest.mark.parametrize(("make", "setting"), [
    (lambda: MixSampler(ratio_top=1.5), "ratio_top"),
    (lambda: NeighboursSource(neighbours_type="cosine"), "neighbours_type"),
    (lambda: NeighboursSource(n_neighbours=0), "n_neighbours"),
    (lambda: FaissSource(max_windows=0), "max_windows"),
    (lambda: FaissSource(batch_size=0), "batch_size"),
])
def test_component_errors_name_the_setting(make, setting):
    with pytest.raises(ValueError, match=setting):
        make()


def test_builder_refuses_settings_the_cache_cannot_serve(cache):
    reader, _, _ = cache
    with pytest.raises(ValueError, match="example_ctx_len"):
        RecordBuilder(reader, ExamplesConfig(example_ctx_len=CTX + 1))
    with pytest.raises(ValueError, match="decoder_weights"):
        RecordBuilder(reader, ExamplesConfig(non_activating=NeighboursSource(neighbours_type="decoder_similarity")))
    with pytest.raises(ValueError, match="tokenizer"):
        RecordBuilder(reader, ExamplesConfig(non_activating=FaissSource()))


def test_defaults_follow_the_spec(cache):
    from autointerp.examples import RandomSource

    config = ExamplesConfig()
    assert (config.min_examples, config.n_examples_train, config.n_examples_test, config.n_quantiles) == (200, 40, 50, 10)
    assert (config.n_non_activating, config.n_explainer_negatives) == (50, 0)
    assert (config.example_ctx_len, config.center_examples, config.left, config.seed) == (32, True, 16, None)
    assert config.train_sampler is None and config.non_activating is None
    builder = RecordBuilder(cache[0], config)  # None: quantile sampling, random negatives
    assert builder.seed == 22 == builder.view.seed  # no seed outside a run: the default run seed
    assert type(builder.train_sampler) is QuantileSampler and type(builder.source) is RandomSource
    assert (MixSampler().ratio_top, NeighboursSource().neighbours_type, NeighboursSource().n_neighbours) == (0.2, "co-occurrence", 10)
    assert (FaissSource().max_windows, FaissSource().batch_size, FaissSource().embedding_model) == (50_000, 256, None)


@pytest.mark.parametrize("index", [5, 7, 8, 9])
def test_random_negatives_fall_short_only_when_the_cache_has_no_more(cache, index):
    reader, dense, _ = cache
    config = _config(n_non_activating=40, n_explainer_negatives=10, example_ctx_len=16)
    record = RecordBuilder(reader, config).build(Latent(HP, index))
    column = dense[:, :, index].reshape(N_ROWS, CTX // 16, 16)
    used = [(e.row, e.start) for e in record.train + record.test]
    # silent aligned windows of the whole cache that share no token with a train or test window
    n_silent = sum(1 for row, slot in zip(*np.nonzero(~column.any(axis=2)))
                   if not any(r == row and abs(s - 16 * slot) < 16 for r, s in used))
    assert len(record.negatives) + len(record.explainer_negatives) == min(50, n_silent)
    assert record.negative_shortfall == max(0, 50 - n_silent)
    assert len(record.explainer_negatives) == 10 * min(50, n_silent) // 50


def test_min_examples_below_train_plus_test_is_said_not_silent(caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="autointerp.examples.config"):
        ExamplesConfig(min_examples=20, n_examples_train=20, n_examples_test=10)
    assert "min_examples (20) < n_examples_train + n_examples_test (30)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="autointerp.examples.config"):
        ExamplesConfig(min_examples=30, n_examples_train=20, n_examples_test=10)
    assert caplog.text == ""
