"""Steering: on the embedded SmolLM2 and the shipped SAE, steering moves the model toward the latent's
logit-lens tokens and alpha = 0 changes nothing; scripted judges of known skill land where they must."""

from __future__ import annotations

import asyncio
import math
import re

import numpy as np
import pytest
import torch

from autointerp.clients.base import Client, Response
from autointerp.metrics.intervals import wilson_interval
from autointerp.records import Explanation
from autointerp.scorers import SteeringScorer
from autointerp.scorers.steering import typical_activation
from autointerp.scorers.steering_prompts import named_output_tokens, used_spans
from steering_world import HP, build_world

N_PROMPTS, NEW = 4, 8
CONTINUATION = re.compile(r'^Continuation (\d): "(.*)"$', re.MULTILINE)
OPTION = re.compile(r"^(\d+)\. (.*)$", re.MULTILINE)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("steering"), n_latents=3)


@pytest.fixture(scope="module")
def pair(world):
    """One pair scorer for the judge tests: each latent's continuations are generated once and reused."""
    return scorer_for(world)


def scorer_for(world, **settings) -> SteeringScorer:
    settings = {"n_prompts": N_PROMPTS, "new_tokens": NEW, "strengths": [8.0], "min_fluency": 0.0, **settings}
    scorer = SteeringScorer(steerer=world.steerer, tokenizer=world.tokenizer, **settings)
    explanations = {r.latent: f"latent {r.latent.index}" for r in world.records}
    scorer.bind_run(model="unused", sparse_model="unused", hookpoints=[HP], tokens=world.reader.tokens,
                    explanations=lambda: explanations)
    return scorer


class Fixed(Client):
    """Always names option `choice` (1-based); `text` replaces the reply when given."""

    model = "scripted"

    def __init__(self, choice: int = 1, text: str | None = None) -> None:
        self.choice, self.text, self.prompts, self.accounting = choice, text, [], None

    async def generate(self, messages, **settings) -> Response:
        self.prompts.append(messages[-1]["content"])
        if self.accounting is not None:  # as a real client counts its calls
            self.accounting.record(self.model, 50, 1, cached=False)
        return Response(text=self.text if self.text is not None else str(self.choice), prompt_tokens=50, completion_tokens=1)


class KnowsUnsteered(Client):
    """Knows the model's unsteered continuations (computed apart from the scorer): names the other one."""

    model = "scripted"

    def __init__(self, unsteered: set[str]) -> None:
        self.unsteered = unsteered

    async def generate(self, messages, **settings) -> Response:
        shown = dict(CONTINUATION.findall(messages[-1]["content"]))
        steered = [n for n, text in shown.items() if text not in self.unsteered]
        return Response(text=steered[0] if len(steered) == 1 else "?", prompt_tokens=50, completion_tokens=1)


class KnowsExplanation(Client):
    """Knows the steered latent's explanation: names the option that reads exactly so."""

    model = "scripted"

    def __init__(self, explanation: str) -> None:
        self.explanation = explanation

    async def generate(self, messages, **settings) -> Response:
        options = dict(OPTION.findall(messages[-1]["content"]))
        return Response(text=next(n for n, t in options.items() if t == self.explanation), prompt_tokens=50,
                        completion_tokens=1)


def score(scorer, record, client, text=None):
    explanation = Explanation(record.latent, text or f"latent {record.latent.index}", "test")
    return asyncio.run(scorer.score(record, explanation, client))


def prompts_of(world, scorer, record) -> list[list[int]]:
    return [[int(t) for t in world.reader.tokens[row][: scorer.prompt_tokens]] for row in scorer.prompt_rows(record)]


def test_steering_raises_the_probability_of_the_latents_logit_lens_tokens(world):
    """A direct forward pass over prompt + unsteered continuation: the lens tokens' probability rises."""
    scorer = scorer_for(world)
    for record in world.records:
        ids = world.lens_ids[record.latent]
        prompts = prompts_of(world, scorer, record)
        unsteered = world.steerer.generate(prompts, NEW)
        sequences = [p + u for p, u in zip(prompts, unsteered) if len(u) == NEW]
        alpha = 8.0 * typical_activation(record)
        delta = world.steerer.deltas(HP, record.latent.index, [alpha] * len(sequences))
        before = world.steerer.token_probabilities(sequences, ids).mean()
        after = world.steerer.token_probabilities(sequences, ids, HP, delta).mean()
        assert after > before, (record.latent, float(before), float(after))


def test_alpha_zero_gives_the_unsteered_text_exactly(world):
    scorer = scorer_for(world)
    record = world.records[0]
    prompts = prompts_of(world, scorer, record)
    unsteered = world.steerer.generate(prompts, NEW, batch_size=4)
    zero = world.steerer.deltas(HP, record.latent.index, [0.0] * len(prompts))
    assert torch.count_nonzero(zero) == 0
    assert world.steerer.generate(prompts, NEW, HP, zero, batch_size=4) == unsteered
    strong = world.steerer.deltas(HP, record.latent.index, [8.0 * typical_activation(record)] * len(prompts))
    assert world.steerer.generate(prompts, NEW, HP, strong, batch_size=4) != unsteered


def test_prompts_are_held_apart_from_every_window_of_the_record(world):
    scorer = scorer_for(world, prompt_tokens=16)
    for record in world.records:
        rows = scorer.prompt_rows(record)
        assert len(rows) == N_PROMPTS
        spans = used_spans(record)
        assert all(start >= 16 for row in rows for start, _ in spans.get(row, []))
    record = world.records[0]  # a record whose windows cover every candidate row's opening
    crowded = scorer_for(world, n_prompts=200)
    assert len(crowded.prompt_rows(record)) < len(world.reader.tokens)


def test_a_judge_that_knows_which_continuation_was_steered_gets_1(world, pair):
    scorer = pair
    for record in world.records:
        unsteered = {world.tokenizer.decode(c).replace("\n", " ").strip()
                     for c in world.steerer.generate(prompts_of(world, scorer, record), NEW)}
        result = score(scorer, record, KnowsUnsteered(unsteered))
        assert result.error is None, result.error
        assert result.metrics["accuracy"] == 1.0 and result.metrics["accuracy_chance"] == 0.5
        n = int(result.metrics["n_judged"])
        assert (result.metrics["accuracy_ci_low"], result.metrics["accuracy_ci_high"]) == pytest.approx(wilson_interval(n, n))


@pytest.mark.parametrize("choice", [1, 2])
def test_a_judge_that_always_names_one_position_lands_at_chance(world, pair, choice):
    scorer = pair
    pooled = [score(scorer, r, Fixed(choice)).metrics for r in world.records]
    for metrics in pooled:
        n = int(metrics["n_judged"])
        assert n >= 2
        assert abs(metrics["accuracy"] - 0.5) <= 0.5 / n + 1e-9  # positions balanced: exactly 1/2 when n is even
    right = sum(m["accuracy"] * m["n_judged"] for m in pooled)
    assert right / sum(m["n_judged"] for m in pooled) == pytest.approx(0.5, abs=0.1)


def test_an_unparseable_judge_has_no_coverage_and_counts_at_chance(world, pair):
    result = score(pair, world.records[0], Fixed(text="I cannot tell"))
    assert result.metrics["coverage"] == 0.0 and math.isnan(result.metrics["accuracy"])
    assert result.metrics["accuracy_itt"] == 0.5 and result.n_unparseable == result.metrics["n_judged"]


def test_choosing_among_explanations_knowing_one_gets_1_and_always_first_gets_1_over_k(world):
    scorer = scorer_for(world, variant="explanations", n_explanations=3)
    for record in world.records:
        right = score(scorer, record, KnowsExplanation(f"latent {record.latent.index}"))
        assert right.error is None and right.metrics["accuracy"] == 1.0
        assert right.metrics["accuracy_chance"] == pytest.approx(1 / 3)
        first = score(scorer, record, Fixed(1))
        n = first.metrics["n_judged"]
        assert abs(first.metrics["accuracy"] - 1 / 3) < 1 / n  # positions balanced over 3
        shown = [s.texts["options"] for s in first.samples if s.kind == "explanations"]
        assert all(len(o) == 3 and len(set(o)) == 3 and f"latent {record.latent.index}" in o for o in shown)


def test_every_continuation_is_in_the_result_and_the_strength_is_reported(world):
    scorer = scorer_for(world, strengths=[0.0, 4.0], min_changed=0.0)
    record = world.records[0]
    result = score(scorer, record, Fixed(1))
    assert len(result.samples) == N_PROMPTS
    for sample in result.samples:
        assert set(sample.texts["by_strength"]) == {"0.0", "4.0"}
        assert sample.texts["by_strength"]["0.0"] == sample.texts["unsteered"]  # alpha = 0 changes nothing
        assert sample.texts["steered"] == sample.texts["by_strength"]["4.0"]
        assert (sample.kind == "pair") == (sample.texts["steered"] != sample.texts["unsteered"])
    assert result.metrics["strength"] == 4.0  # the largest qualifying one
    assert result.metrics["alpha"] == pytest.approx(4.0 * typical_activation(record))
    assert result.metrics["generated_tokens"] > 0 and result.metrics["generation_s"] > 0


def test_names_output_token_by_hand():
    tokens = [" reach", "='<", " reaches", "ab", " Hungarian"]
    assert named_output_tokens("things out of reach", tokens) == ["reach"]
    assert named_output_tokens("Hungarian and reaches", tokens) == ["reaches", "hungarian"]
    assert named_output_tokens("an ab test", tokens) == []  # too short to count
    assert named_output_tokens("anything", None) == []


def test_bad_settings_name_themselves():
    with pytest.raises(ValueError, match="variant"):
        SteeringScorer(variant="both")
    with pytest.raises(ValueError, match="strengths"):
        SteeringScorer(strengths=[-1.0])
    with pytest.raises(ValueError, match="n_explanations"):
        SteeringScorer(n_explanations=1)


def test_wilson_interval_by_hand():
    low, high = wilson_interval(6, 8)  # p = .75, z = 1.96: centre .6689, half .2596
    assert (low, high) == pytest.approx((0.4093, 0.9285), abs=1e-3)
    assert wilson_interval(0, 4)[0] == 0.0 and wilson_interval(4, 4)[1] == 1.0
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_interpret_writes_every_continuation_and_shows_them_in_the_report_and_mlflow(world, tmp_path, monkeypatch):
    """The whole stage on the real cache: score files, summary, report card and MLflow carry the steering scorer."""
    import json
    import shutil

    import mlflow
    from pipeline_fakes import FakeExplainer

    from autointerp.clients.accounting import Accounting
    from autointerp.examples import ExamplesConfig
    from autointerp.pipeline.config import InterpretConfig
    from autointerp.pipeline.run import Parts, interpret

    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "results" / "steer"
    shutil.copytree(world.run_dir / "latents", run_dir / "latents")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = InterpretConfig(examples=ExamplesConfig(min_examples=10, n_examples_train=5, n_examples_test=5,
                                                     n_non_activating=5, example_ctx_len=16),
                             latents={HP: [r.latent.index for r in world.records[:2]]}, tracking_uri=uri,
                             output_tokens=False)
    judge = Fixed(1)
    judge.accounting = Accounting()
    scorer = SteeringScorer(steerer=world.steerer, n_prompts=N_PROMPTS, new_tokens=NEW, strengths=[8.0], min_fluency=0.0)
    summary = interpret(run_dir, config, {"name": "steer", "interpret": config.to_dict()},
                        Parts(client=judge, explainer=FakeExplainer(), scorers={"steering": scorer},
                              tokenizer=world.tokenizer, accounting=judge.accounting))
    for record in world.records[:2]:
        stored = json.loads((run_dir / "scores" / "steering" / HP / f"{record.latent.index}.json").read_text())
        assert len(stored["samples"]) == N_PROMPTS
        assert all({"prompt", "unsteered", "steered", "by_strength"} <= set(s["texts"]) for s in stored["samples"])
        assert stored["metrics"]["strength"] == 8.0 and stored["metrics"]["accuracy_chance"] == 0.5
    mean = summary["per_hookpoint"][HP]["steering"]["accuracy"]["mean"]
    html = (run_dir / "report.html").read_text()
    steered = json.loads((run_dir / "scores" / "steering" / HP / f"{world.records[0].latent.index}.json").read_text())
    assert json.dumps(steered["samples"][0]["texts"]["steered"])[1:-1] in html  # the card carries the continuation
    run_id = json.loads((run_dir / "mlflow_run.json").read_text())["run_id"]
    logged = mlflow.MlflowClient(tracking_uri=uri).get_run(run_id).data.metrics
    assert logged[f"steering/{HP}/accuracy"] == pytest.approx(mean)
    assert f"steering/{HP}/generation_s" in logged
    assert summary["usage"]["score/steering"]["calls"] == judge.accounting.by_stage()["score/steering"].calls > 0


def test_a_row_used_by_any_split_is_never_a_prompt():
    """Every role of a record holds its rows back from the prompts, the select split's included."""
    from autointerp.records import ActivatingExample, Latent, LatentRecord, NonActivatingExample
    from autointerp.scorers.steering_prompts import held_apart

    def window(cls, row, role):
        return cls(row=row, start=4, tokens=np.zeros(8, dtype=np.int64), activations=np.zeros(8), role=role)

    record = LatentRecord(latent=Latent("layers.15", 0), train=[window(ActivatingExample, 0, "train")],
                          test=[window(ActivatingExample, 1, "test")],
                          explainer_negatives=[window(NonActivatingExample, 2, "explainer_negative")],
                          negatives=[window(NonActivatingExample, 3, "negative")],
                          select=[window(ActivatingExample, 4, "select")],
                          select_negatives=[window(NonActivatingExample, 5, "select_negative")])
    assert held_apart(list(range(8)), record, length=16, n=8) == [6, 7]
    assert held_apart(list(range(8)), record, length=4, n=8) == list(range(8))  # the windows start at 4
