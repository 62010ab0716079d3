"""Detection, recall, fuzz and intruder against scripted clients: truth, always-no, garbage, failure."""

import asyncio
import re

import pytest

from interp_fixtures import CONCEPT, ScriptedClient, excerpts, make_record
from autointerp.clients.base import Response
from autointerp.records import Explanation
from autointerp.scorers import DetectionScorer, FuzzScorer, IntruderScorer, RecallScorer, SimulationScorer
from autointerp.scorers.base import Scorer


def run(scorer, record, client, text="the word cat"):
    """Score the record with a fixed explanation."""
    explanation = Explanation(latent=record.latent, text=text, explainer="default")
    return asyncio.run(scorer.score(record, explanation, client))


@pytest.mark.parametrize("cls, n", [(DetectionScorer, 20), (FuzzScorer, 30)])
def test_truthful_client_gives_perfect_balanced_accuracy(cls, n):
    result = run(cls(), make_record(), ScriptedClient("truth"))
    assert result.metrics["balanced_accuracy"] == 1.0
    assert result.metrics["f1"] == 1.0 and result.metrics["precision"] == 1.0
    assert result.n_unparseable == 0 and result.error is None and result.metrics["coverage"] == 1.0
    right = (lambda s: s.kind == "correct") if cls is FuzzScorer else (lambda s: s.activating)
    assert len(result.samples) == n and all(s.prediction == right(s) for s in result.samples)


def test_fuzz_reports_wrong_marks_on_activating_text_beside_decoys():
    result = run(FuzzScorer(), make_record(), ScriptedClient("truth"))
    kinds = [s.kind for s in result.samples]
    assert kinds.count("correct") == kinds.count("wrong") == kinds.count("decoy") == 10
    assert all(s.activating for s in result.samples if s.kind == "wrong")
    assert result.metrics["wrong_marks_balanced_accuracy"] == 1.0
    # a judge that says yes whenever the text holds a cat, wherever the marks are, passes the decoys
    # but not the wrong marks
    class TextOnly(ScriptedClient):
        def _verdicts(self, prompt, logprobs):
            from interp_fixtures import unmarked
            verdicts = [int(CONCEPT in unmarked(t)) for t in excerpts(prompt)]
            return Response(text=str(verdicts))

    blind = run(FuzzScorer(), make_record(), TextOnly("truth"))
    assert blind.metrics["balanced_accuracy"] == 1.0 and blind.metrics["wrong_marks_balanced_accuracy"] == 0.5


@pytest.mark.parametrize("cls", [DetectionScorer, FuzzScorer])
def test_always_no_gives_chance(cls):
    result = run(cls(), make_record(), ScriptedClient("no"))
    m = result.metrics
    assert m["balanced_accuracy"] == 0.5 == m["balanced_accuracy_chance"]
    assert m["accuracy"] == 0.5 and m["accuracy_chance"] == 0.5  # 10 positives, 10 negatives
    assert m["recall"] == 0.0 and m["f1"] == 0.0


def test_batches_of_five_with_a_short_last_batch_that_parses():
    record = make_record()
    record.negatives = record.negatives[:7]  # 17 items: 5 + 5 + 5 + 2
    client = ScriptedClient("truth")
    result = run(DetectionScorer(n_examples_per_prompt=5), record, client)
    sizes = sorted(len(excerpts(c["messages"][-1]["content"])) for c in client.calls)
    assert sizes == [2, 5, 5, 5]
    assert result.n_unparseable == 0 and result.metrics["balanced_accuracy"] == 1.0


def test_detection_shows_no_marks_and_is_shuffled_with_the_seed():
    record = make_record()
    a, b, c = ScriptedClient(), ScriptedClient(), ScriptedClient()
    run(DetectionScorer(seed=1), record, a)
    run(DetectionScorer(seed=1), record, b)
    run(DetectionScorer(seed=2), record, c)
    order = lambda client: [t for call in client.calls for t in excerpts(call["messages"][-1]["content"])]
    assert order(a) == order(b) != order(c)
    assert not any("<<" in t for t in order(a))
    flags = [CONCEPT in t for t in order(a)]
    assert flags != sorted(flags, reverse=True)  # positives are not all first


def test_fuzz_decoys_take_the_form_of_correct_marks():
    """Count, runs and shown positions of the marks follow one law for correct marks and decoys
    (checked over many latent seeds: the shares of each form agree within sampling noise)."""
    from collections import Counter

    record = make_record()
    for ex in record.test[::2]:  # give some positives two marked tokens
        ex.activations[3] = 1.0
    forms = {"correct": Counter(), "wrong": Counter(), "decoy": Counter()}
    for seed in range(200):
        for batch in FuzzScorer(seed=seed, crop=2).batches(record):
            for item in batch:
                shown = tuple(p - item.offset for p in item.highlighted)  # marked tokens as shown
                forms[item.kind][(len(shown), item.text.count("<<"), shown[0])] += 1
    assert set(forms["correct"]) == set(forms["decoy"]) and set(forms["wrong"]) <= set(forms["correct"])
    # decoys follow the law exactly; wrong marks need a silent place in the window, which these
    # 7-token windows with 2 tokens of slack often lack (tests/scorers/test_skill_less_judges.py
    # checks them on real 32-token windows)
    total, base = sum(forms["decoy"].values()), sum(forms["correct"].values())
    for form, count in forms["correct"].items():
        assert abs(forms["decoy"][form] / total - count / base) < 0.03, form


def test_recall_per_quantile_beside_the_judges_false_positive_rate():
    result = run(RecallScorer(), make_record(), ScriptedClient("truth"))
    assert result.metrics["recall"] == 1.0 and result.metrics["recall_chance"] == 0.0
    assert {k for k in result.metrics if re.fullmatch(r"recall_q\d", k)} == {"recall_q0", "recall_q1", "recall_q2"}
    assert sum(s.role == "negative" for s in result.samples) == 10 and len(result.samples) == 20
    no = run(RecallScorer(), make_record(), ScriptedClient("no"))
    assert no.metrics["recall"] == 0.0 and no.metrics["recall_q1"] == 0.0 and no.metrics["recall_chance"] == 0.0


def test_intruder_truthful_and_no():
    truth = run(IntruderScorer(), make_record(), ScriptedClient("truth"), text=None)
    assert truth.metrics["accuracy"] == 1.0 and truth.metrics["accuracy_chance"] == 0.2
    assert truth.metrics["n_prompts"] == 2  # 10 test examples // 4 per prompt
    assert all(not s.activating for s in truth.samples)
    always_first = run(IntruderScorer(), make_record(), ScriptedClient("no"))
    assert always_first.metrics["accuracy"] == pytest.approx(
        sum(s.value == 1 and s.prediction for s in always_first.samples) / 2)


def test_intruder_needs_no_explanation():
    record = make_record()
    result = asyncio.run(IntruderScorer().score(record, None, ScriptedClient("truth")))
    assert IntruderScorer.needs_explanation is False and result.explanation is None
    assert result.metrics["accuracy"] == 1.0


def test_intruder_skips_a_record_without_negatives():
    record = make_record()
    record.negatives = []
    result = asyncio.run(IntruderScorer().score(record, None, ScriptedClient("truth")))
    assert result.error.startswith("skipped")


@pytest.mark.parametrize("cls", [DetectionScorer, FuzzScorer, RecallScorer, SimulationScorer, IntruderScorer])
def test_garbage_replies_are_counted_never_guessed(cls):
    client = ScriptedClient("garbage")
    result = run(cls(), make_record(), client)
    assert result.n_unparseable == len(client.calls) > 0
    assert all(s.prediction is None and s.predicted_activations is None for s in result.samples)
    assert result.error is None


@pytest.mark.parametrize("cls", [DetectionScorer, FuzzScorer, SimulationScorer, IntruderScorer])
def test_llm_failures_become_an_error_not_a_score(cls):
    result = run(cls(), make_record(), ScriptedClient("fail"))
    assert "failed" in result.error and result.metrics == {}


def test_log_probs_give_probabilities_and_auroc():
    client = ScriptedClient("truth", confidence=0.8)
    result = run(DetectionScorer(log_probs=True), make_record(), client)
    assert all(c["logprobs"] and c["top_logprobs"] == 5 for c in client.calls)
    for s in result.samples:
        assert s.probability == pytest.approx(0.8 if s.activating else 0.2)
    assert result.metrics["auroc"] == 1.0 and result.metrics["auroc_chance"] == 0.5


def test_prompts_are_sent_concurrently():
    """All prompts of one latent are in flight together (gathered, not awaited one by one)."""

    class Gate(ScriptedClient):
        def __init__(self):
            super().__init__("truth")
            self.waiting = 0
            self.peak = 0

        async def generate(self, messages, **kwargs):
            self.waiting += 1
            self.peak = max(self.peak, self.waiting)
            await asyncio.sleep(0)
            self.waiting -= 1
            return await super().generate(messages, **kwargs)

    client = Gate()
    run(DetectionScorer(), make_record(), client)
    assert client.peak == 4  # 20 items / 5 per prompt


def test_each_scorer_writes_under_its_name():
    import autointerp.scorers as scorers

    names = {"detection": "DetectionScorer", "recall": "RecallScorer", "fuzz": "FuzzScorer", "simulation": "SimulationScorer",
             "surprisal": "SurprisalScorer", "embedding": "EmbeddingScorer", "intruder": "IntruderScorer"}
    for name, cls in names.items():
        assert issubclass(getattr(scorers, cls), Scorer) and getattr(scorers, cls).name == name



def test_bad_settings_name_the_setting(tmp_path):
    with pytest.raises(ValueError, match="n_examples_per_prompt"):
        DetectionScorer(n_examples_per_prompt=0)
    with pytest.raises(ValueError, match="prompt_template"):
        DetectionScorer(prompt_template=str(tmp_path / "missing.txt"))
    bad = tmp_path / "bad.txt"
    bad.write_text("Explain $nonsense")
    with pytest.raises(ValueError, match="prompt_template.*nonsense"):
        FuzzScorer(prompt_template=str(bad))


def test_custom_template_replaces_the_prompt(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("Idea: $explanation\n$examples\nJSON list of $n numbers please.\n")
    client = ScriptedClient("truth")
    result = run(DetectionScorer(prompt_template=str(path)), make_record(), client)
    assert client.calls[0]["messages"][-1]["content"].startswith("Idea: the word cat\nExcerpt 1:")
    assert result.metrics["balanced_accuracy"] == 1.0


@pytest.mark.parametrize("cls, schema, metric", [
    (DetectionScorer, "verdicts", "balanced_accuracy"),
    (FuzzScorer, "verdicts", "balanced_accuracy"),
    (IntruderScorer, "choice", "accuracy"),
    (SimulationScorer, "activations", "correlation"),
])
def test_structured_replies_send_a_schema_and_parse(cls, schema, metric):
    client = ScriptedClient("truth")
    structured = run(cls(structured=True), make_record(), client)
    plain = run(cls(), make_record(), ScriptedClient("truth"))
    assert all(c["response_format"]["json_schema"]["name"] == schema for c in client.calls)
    assert structured.n_unparseable == 0 and structured.metrics[metric] == pytest.approx(plain.metrics[metric])
    if schema == "verdicts":
        sizes = sorted(c["response_format"]["json_schema"]["schema"]["properties"]["answers"]["maxItems"]
                       for c in client.calls)
        assert sizes == [5] * (6 if cls is FuzzScorer else 4)


@pytest.mark.parametrize("cls", [DetectionScorer, RecallScorer, FuzzScorer, SimulationScorer])
def test_a_record_without_examples_is_skipped(cls):
    record = make_record()
    record.test, record.negatives = [], []
    client = ScriptedClient("truth")
    result = run(cls(), record, client)
    assert result.error.startswith("skipped") and not client.calls


def test_failed_prompts_lower_coverage_and_count_at_chance_in_intention_to_treat():
    class Flaky(ScriptedClient):
        async def generate(self, messages, **kwargs):
            self.n = getattr(self, "n", 0) + 1
            if self.n % 2 == 0:
                from autointerp.clients.base import LLMError
                raise LLMError("down")
            return await super().generate(messages, **kwargs)

    result = run(DetectionScorer(), make_record(), Flaky("truth"))
    answered = [s for s in result.samples if s.prediction is not None]
    pos = sum(s.activating for s in answered)
    neg = len(answered) - pos
    assert result.metrics["coverage"] == len(answered) / 20 == 0.5 and result.metrics["failed_prompts"] == 2
    assert result.metrics["balanced_accuracy"] == 1.0  # over the answered examples
    by_hand = ((pos + 0.5 * (10 - pos)) / 10 + (neg + 0.5 * (10 - neg)) / 10) / 2
    assert result.metrics["balanced_accuracy_itt"] == pytest.approx(by_hand) and by_hand < 1.0


def test_a_class_missing_among_the_answers_makes_metrics_nan_not_recall():
    class NegativesUnread(ScriptedClient):
        def _verdicts(self, prompt, logprobs):
            texts = excerpts(prompt)
            if not any(CONCEPT in t for t in texts):
                return Response(text="no idea")
            return super()._verdicts(prompt, logprobs)

    record = make_record()
    record.negatives = record.negatives[:2]
    scorer = DetectionScorer(n_examples_per_prompt=1, min_per_class=2)
    result = run(scorer, record, NegativesUnread("truth"))
    import math
    assert math.isnan(result.metrics["balanced_accuracy"]) and math.isnan(result.metrics["precision"])
    assert result.metrics["n_negative"] == 0 and result.metrics["n_positive"] == 10
    record.negatives = record.negatives[:1]  # fewer than min_per_class: skipped before asking
    client = ScriptedClient("truth")
    skipped = run(scorer, record, client)
    assert skipped.error.startswith("skipped") and "min_per_class=2" in skipped.error and not client.calls
