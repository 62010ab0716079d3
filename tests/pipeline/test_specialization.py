"""Specialization and cache statistics, against the dense matrices the caches were made from."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from autointerp.latents.format import CacheReader
from autointerp.pipeline.specialization import cache_statistics, compare, write_specialization
from pipeline_fakes import make_cache


def test_firing_rates_and_strengths_match_the_dense_matrices(tmp_path):
    domain = make_cache(tmp_path / "domain", rates=np.array([0.6, 0.05, 0.3, 0.0]), d_sae=4, seed=1)["dense"]
    general = make_cache(tmp_path / "general", rates=np.array([0.05, 0.6, 0.3, 0.2]), d_sae=4, seed=2)["dense"]
    rows = compare(CacheReader(tmp_path / "domain" / "latents"), CacheReader(tmp_path / "general" / "latents"))
    by_latent = {r["latent"]: r for r in rows}
    for j in range(4):
        d, g = domain[:, j], general[:, j]
        assert by_latent[j]["firing_rate"] == pytest.approx((d > 0).mean())
        assert by_latent[j]["reference_firing_rate"] == pytest.approx((g > 0).mean())
        assert by_latent[j]["mean_activation"] == pytest.approx(d[d > 0].mean() if (d > 0).any() else 0.0)
        expected = math.log(((d > 0).sum() + 0.5) / len(d)) - math.log(((g > 0).sum() + 0.5) / len(g))
        assert by_latent[j]["log_firing_ratio"] == pytest.approx(expected)
    assert [r["latent"] for r in rows][0] == 0 and [r["latent"] for r in rows][-1] in (1, 3)
    summary = write_specialization(tmp_path / "domain", rows, "general", top=2)
    assert summary["most_specific"][0]["latent"] == 0
    with open(tmp_path / "domain" / "specialization.csv") as f:
        assert [int(r["latent"]) for r in csv.DictReader(f)] == [r["latent"] for r in rows]


def test_cache_statistics(tmp_path):
    dense = make_cache(tmp_path / "run", rates=np.array([0.5, 0.0, 0.2]), d_sae=3)["dense"]
    stats = cache_statistics(CacheReader(tmp_path / "run" / "latents"))
    hp = stats["hookpoints"]["layers.1"]
    assert stats["n_tokens"] == dense.shape[0]
    assert hp["nnz"] == int((dense > 0).sum()) and hp["alive_fraction"] == pytest.approx(2 / 3)
    assert hp["mean_l0"] == pytest.approx((dense > 0).sum(1).mean())


def test_a_reference_with_other_sizes_is_refused(tmp_path):
    make_cache(tmp_path / "a", d_sae=4)
    make_cache(tmp_path / "b", d_sae=5)
    with pytest.raises(ValueError, match="reference_run"):
        compare(CacheReader(tmp_path / "a" / "latents"), CacheReader(tmp_path / "b" / "latents"))


def test_interpret_with_a_reference_run_reports_specialization(tmp_path):
    from pipeline_fakes import CountingClient, FakeBuilder, FakeExplainer, FakeScorer

    from autointerp.examples.config import ExamplesConfig
    from autointerp.pipeline.config import InterpretConfig
    from autointerp.pipeline.run import Parts, interpret

    make_cache(tmp_path / "finance", rates=np.array([0.6, 0.05, 0.3, 0.1]), d_sae=4, seed=1)
    make_cache(tmp_path / "general", rates=np.array([0.05, 0.6, 0.3, 0.1]), d_sae=4, seed=2)
    config = InterpretConfig(examples=ExamplesConfig(min_examples=1), mlflow=False, report=False, reference_run="general")
    parts = Parts(client=CountingClient(), explainer=FakeExplainer(), builder=FakeBuilder(d_sae=4),
                  scorers={"detection": FakeScorer("detection")})
    summary = interpret(tmp_path / "finance", config, None, parts)
    assert summary["specialization"]["reference_run"] == "general"
    assert summary["specialization"]["most_specific"][0]["latent"] == 0
    assert (tmp_path / "finance" / "specialization.csv").is_file()


def test_a_missing_reference_run_fails_before_any_llm_call(tmp_path):
    from pipeline_fakes import CountingClient, FakeBuilder, FakeExplainer, FakeScorer

    from autointerp.pipeline.config import InterpretConfig
    from autointerp.pipeline.run import Parts, interpret

    make_cache(tmp_path / "finance", d_sae=4)
    client = CountingClient()
    config = InterpretConfig(mlflow=False, report=False, reference_run="nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        interpret(tmp_path / "finance", config, None, Parts(client=client, explainer=FakeExplainer(), builder=FakeBuilder(d_sae=4),
                                                              scorers={"detection": FakeScorer("detection")}))
    assert client.calls == 0
