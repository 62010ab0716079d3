"""No score is earned without reading the explanation: skill-less scripted judges land at chance on
records built by the real RecordBuilder from a real cache; a judge that knows where the latent fires
lands near 1.0, and the same judge scored with another latent's explanation lands at chance."""

from __future__ import annotations

import asyncio

import pytest
from examples.examples_cache import write_cache
from judges import CTX, HP, Judge, Oracle, firing_tokens, news_tokens, token_latent_nonzeros

from autointerp.examples import ExamplesConfig, RecordBuilder
from autointerp.latents import CacheReader
from autointerp.metrics import aggregate
from autointerp.pipeline.shuffled import derangement, paired_lift
from autointerp.records import Explanation, Latent
from autointerp.scorers import DetectionScorer, FuzzScorer, IntruderScorer, RecallScorer

CROP = 8  # FuzzScorer's default crop of a 32-token window


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(records, oracle) for a cache of news text in which latent j fires on one word."""
    from autointerp.models.subject import load_tokenizer

    tokenizer = load_tokenizer("embedded:SmolLM2-135M-Instruct")
    tokens = news_tokens(tokenizer)
    chosen = firing_tokens(tokens, tokenizer)
    folder = write_cache(tmp_path_factory.mktemp("judges") / "latents", tokens,
                         {HP: token_latent_nonzeros(tokens, chosen)}, {HP: len(chosen)})
    reader = CacheReader(folder)
    config = ExamplesConfig(min_examples=40, n_examples_train=10, n_examples_test=30, n_non_activating=30,
                            example_ctx_len=32, n_quantiles=5)
    builder = RecordBuilder(reader, config, tokenizer)
    records = [r for r in (builder.build(Latent(HP, j)) for j in range(len(chosen))) if r is not None]
    assert len(records) >= 8, "the cache must give enough latents for intervals"
    return records, Oracle(reader, records, CROP)


def score_all(scorer, records, judge, explanation_of=None):
    """Every record scored by `judge`; explanation "latent j" (or that of `explanation_of[latent]`)."""
    explanation_of = explanation_of or {}

    async def one(record):
        latent = explanation_of.get(record.latent, record.latent)
        return await scorer.score(record, Explanation(record.latent, f"latent {latent.index}", "test"), judge)

    async def every():
        return await asyncio.gather(*(one(r) for r in records))

    return asyncio.run(every())


def summary(scorer, records, judge, **kwargs):
    results = score_all(scorer, records, judge, **kwargs)
    assert all(r.error is None for r in results), [r.error for r in results if r.error]
    return aggregate(results, seed=1)[scorer.name], results


def covers(metric: dict, value: float) -> bool:
    return metric["ci_low"] <= value <= metric["ci_high"]


@pytest.mark.parametrize("rule", ["yes", "no"])
def test_constant_judges_land_at_chance_with_no_lift_and_no_high_quality_latent(world, rule):
    records, oracle = world
    for scorer in (DetectionScorer(), FuzzScorer()):
        agg, results = summary(scorer, records, Judge(rule, oracle))
        assert all(r.metrics["balanced_accuracy"] == 0.5 for r in results), scorer.name
        assert agg["n_high_quality"] == 0
    fuzz, _ = summary(FuzzScorer(), records, Judge(rule, oracle))
    assert fuzz["metrics"]["wrong_marks_balanced_accuracy"]["mean"] == 0.5
    recall, _ = summary(RecallScorer(), records, Judge(rule, oracle))
    m = recall["metrics"]["recall"]
    assert m["mean"] == (1.0 if rule == "yes" else 0.0) and m["mean"] - m["chance"] == 0.0  # lift 0


def over_seeds(cls, records, judge, n_seeds=8, **settings):
    """One scorer's summary over several scorer seeds (each seed shuffles and places marks anew),
    so the interval reflects the protocol, not one draw."""
    results = [r for seed in range(n_seeds) for r in score_all(cls(seed=seed, **settings), records, judge)]
    assert all(r.error is None for r in results)
    return aggregate(results, seed=1)[cls.name]


@pytest.mark.parametrize("position", [16, 12, 8])
def test_a_judge_reading_mark_positions_only_lands_at_chance(world, position):
    """Centred windows peak at index 16; after the crop the shown peak lies anywhere in 8..16."""
    records, oracle = world
    fuzz = over_seeds(FuzzScorer, records, Judge("position", oracle, position))
    for key in ("balanced_accuracy", "wrong_marks_balanced_accuracy"):
        assert covers(fuzz["metrics"][key], 0.5), (key, fuzz["metrics"][key])


def test_a_judge_reading_mark_positions_only_finds_no_intruder(world):
    """It picks the excerpt whose first mark lies farthest from the others': chance is 1/5."""
    records, oracle = world
    intruder = over_seeds(IntruderScorer, records, Judge("position", oracle))
    assert covers(intruder["metrics"]["accuracy"], 0.2), intruder["metrics"]["accuracy"]


def test_a_judge_that_knows_the_firing_tokens_scores_near_one_everywhere(world):
    records, oracle = world
    judge = Judge("oracle", oracle)
    detection, _ = summary(DetectionScorer(), records, judge)
    fuzz, _ = summary(FuzzScorer(), records, judge)
    recall, _ = summary(RecallScorer(), records, judge)
    intruder, _ = summary(IntruderScorer(), records, judge)
    assert detection["metrics"]["balanced_accuracy"]["mean"] > 0.95
    assert fuzz["metrics"]["balanced_accuracy"]["mean"] > 0.95
    assert fuzz["metrics"]["wrong_marks_balanced_accuracy"]["mean"] > 0.95
    assert recall["metrics"]["recall"]["mean"] > 0.95 and recall["metrics"]["recall"]["chance"] < 0.05
    assert intruder["metrics"]["accuracy"]["mean"] > 0.95
    assert detection["n_high_quality"] == len(records)


def test_the_shuffled_explanation_baseline_of_the_perfect_judge_is_at_chance(world):
    records, oracle = world
    judge = Judge("oracle", oracle)
    partner = derangement([r.latent for r in records], seed=22)
    assert all(partner[r.latent] != r.latent for r in records)
    for scorer in (DetectionScorer(), FuzzScorer()):
        real = score_all(scorer, records, judge)
        control = score_all(scorer, records, judge, explanation_of=partner)
        shuffled = aggregate(control, seed=1)[scorer.name]["metrics"]["balanced_accuracy"]
        assert covers(shuffled, 0.5) and abs(shuffled["mean"] - 0.5) < 0.1, shuffled
        lift = paired_lift(real, control, seed=1)["balanced_accuracy"]
        assert lift["lift"] > 0.35 and lift["lift_ci_low"] > 0.3 and lift["n"] == len(records)
