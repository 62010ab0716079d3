"""A second judge and the top-tokens baseline, through the whole interpret stage on a real cache
with the real RecordBuilder: agreement and lift checked against independent computations from the
files on disk; the second judge's calls are counted, priced, bounded by the budget, and a resumed
run asks nobody anything again."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter

import numpy as np
import pytest
from pipeline_fakes import make_cache
from quickstart_stage import HashTokenizer
from scipy import stats

from autointerp.clients.accounting import Accounting
from autointerp.clients.base import Response
from autointerp.clients.managed import ManagedClient
from autointerp.examples import ExamplesConfig
from autointerp.explainers import DefaultExplainer, TopTokensExplainer
from autointerp.pipeline.config import InterpretConfig
from autointerp.pipeline.run import Parts, interpret
from autointerp.scorers import DetectionScorer, FuzzScorer

HP = "layers.1"
PRICES = {"judge-a": (0.0, 0.0), "judge-b": (2.0, 4.0)}  # USD per 1M prompt / completion tokens


def bit(*parts: str) -> int:
    return hashlib.sha256("|".join(parts).encode()).digest()[0] % 2


class HashJudge(ManagedClient):
    """A real managed client (response cache, accounting) whose backend answers from a hash of the
    request; judge-b gives judge-a's verdict, flipped where a second hash says so (about a third)."""

    def __init__(self, model: str, accounting: Accounting | None = None) -> None:
        super().__init__(model, accounting=accounting)
        self.prompts: list[str] = []
        self.tokens = [0, 0]

    async def _complete(self, messages, settings) -> Response:
        request = json.dumps(messages, sort_keys=True)
        self.prompts.append(request)
        props = (((settings.response_format or {}).get("json_schema") or {}).get("schema") or {}).get("properties", {})
        if "answers" in props:
            n = props["answers"]["minItems"]
            flip = (lambda i: bit("b", request, str(i)) & bit("c", request, str(i))) if self.model == "judge-b" else (lambda i: 0)
            text = json.dumps({"answers": [bit("a", request, str(i)) ^ flip(i) for i in range(n)]})
        else:
            text = json.dumps({"explanation": f"words like w{len(request) % 50}"})
        prompt_tokens = len(request) // 4
        self.tokens[0] += prompt_tokens
        self.tokens[1] += 8
        return Response(text=text, prompt_tokens=prompt_tokens, completion_tokens=8)


def config(**extra) -> InterpretConfig:
    settings = dict(
        explainer=DefaultExplainer(structured=True),
        scorers=[DetectionScorer(n_examples_per_prompt=5, structured=True),
                 FuzzScorer(n_examples_per_prompt=5, structured=True)],
        baseline_explainer=TopTokensExplainer(),
        examples=ExamplesConfig(min_examples=20, n_examples_train=20, n_examples_test=10, n_non_activating=10,
                                example_ctx_len=32),
        mlflow=False, report=False, output_tokens=False, pipeline_num_proc=4,
    )
    settings.update(extra)
    return InterpretConfig(**settings)


def run(run_dir, cfg, budget_usd=None, second=True):
    accounting = Accounting(prices=PRICES, budget_usd=budget_usd)
    a = HashJudge("judge-a", accounting)
    a.use_cache_at(run_dir)  # the run folder's cache, not the user's (the stage does this for a client it builds)
    b = HashJudge("judge-b", Accounting(prices={"judge-b": PRICES["judge-b"]})) if second else None
    summary = interpret(run_dir, cfg, None, Parts(client=a, second_judge=b, tokenizer=HashTokenizer()))
    return summary, a, b


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("judges") / "run"
    make_cache(run_dir, d_sae=6, n_rows=40, ctx_len=64, rates=np.array([0.02, 0.04, 0.06, 0.1, 0.2, 0.4]))
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"
    summary, a, b = run(run_dir, config(mlflow=True, tracking_uri=uri, report=True))
    return run_dir, summary, a, b, uri


def results(run_dir, scorer) -> dict[int, dict]:
    folder = run_dir / "scores" / scorer / HP
    return {int(p.stem): json.loads(p.read_text()) for p in folder.glob("*.json")}


def test_the_second_judge_gets_exactly_the_scorer_prompts_of_the_first(first):
    run_dir, summary, a, b, _ = first
    n_explain = summary["counts"]["explained"]
    n_baseline = sum(summary["usage"][f"score/{s}@top-tokens"]["calls"] for s in ("detection", "fuzz"))
    assert n_explain >= 4 and n_baseline > 0 and len(b.prompts) == len(a.prompts) - n_explain - n_baseline
    assert not Counter(b.prompts) - Counter(a.prompts)  # every prompt of b was also sent to a


def test_agreement_equals_a_direct_computation_from_the_score_files(first):
    run_dir, summary, *_ = first
    block = summary["judge_agreement"]
    assert block["model"] == "judge-b"
    for scorer in ("detection", "fuzz"):
        ours, theirs = results(run_dir, scorer), results(run_dir, scorer + "@second_judge")
        assert set(ours) == set(theirs) and ours
        va, vb, sa, sb = [], [], [], []
        for i in sorted(ours):
            if ours[i]["error"] is not None or theirs[i]["error"] is not None:
                continue  # a latent the scorer skipped (too few examples) counts for neither judge
            for s, t in zip(ours[i]["samples"], theirs[i]["samples"]):
                assert (s["row"], s["start"], s.get("kind")) == (t["row"], t["start"], t.get("kind"))
                if s["prediction"] is not None and t["prediction"] is not None:
                    va.append(s["prediction"])
                    vb.append(t["prediction"])
            x, y = ours[i]["metrics"]["balanced_accuracy"], theirs[i]["metrics"]["balanced_accuracy"]
            if x is not None and y is not None:  # NaN is stored as null
                sa.append(x)
                sb.append(y)
        n = len(va)
        p_o = sum(x == y for x, y in zip(va, vb)) / n
        p_e = (sum(va) / n) * (sum(vb) / n) + (1 - sum(va) / n) * (1 - sum(vb) / n)
        got = block["per_hookpoint"][HP][scorer]
        assert got["metric"] == "balanced_accuracy" and got["n_verdicts"] == n and got["n_latents"] == len(sa)
        assert got["kappa"]["value"] == pytest.approx((p_o - p_e) / (1 - p_e))
        assert 0.2 < got["kappa"]["value"] < 0.95  # the judges agree on about 3 verdicts in 4
        assert got["pearson"]["value"] == pytest.approx(stats.pearsonr(sa, sb)[0])
        assert got["spearman"]["value"] == pytest.approx(stats.spearmanr(sa, sb)[0])
        for stat in ("kappa", "pearson", "spearman"):
            assert got[stat]["ci_low"] <= got[stat]["value"] <= got[stat]["ci_high"]
        worst = max(range(len(sa)), key=lambda k: abs(sa[k] - sb[k]))
        assert abs(got["disagree_most"][0]["difference"]) == pytest.approx(abs(sa[worst] - sb[worst]))


def test_the_second_judge_is_counted_and_priced_under_its_own_stage(first):
    _, summary, a, b, _ = first
    usage = summary["usage"]
    second = {k: v for k, v in usage.items() if k.startswith("second_judge/")}
    assert set(second) == {"second_judge/detection", "second_judge/fuzz"}
    assert sum(v["calls"] for v in second.values()) == len(b.prompts)
    assert sum(v["prompt_tokens"] for v in second.values()) == b.tokens[0]
    cost = (b.tokens[0] * 2.0 + b.tokens[1] * 4.0) / 1e6
    assert sum(v["cost_usd"] for v in second.values()) == pytest.approx(cost)
    assert summary["usage_total"]["cost_usd"] == pytest.approx(cost)  # judge a costs nothing here
    assert sum(v["calls"] for k, v in usage.items() if not k.startswith("second_judge/")) == len(a.prompts)


def test_the_lift_over_top_tokens_is_the_paired_mean_difference_with_its_bootstrap_interval(first):
    run_dir, summary, *_ = first
    lift = summary["baseline_explainer"]["lift"][HP]["detection"]["balanced_accuracy"]
    ours, theirs = results(run_dir, "detection"), results(run_dir, "detection@top-tokens")
    both = sorted(i for i in set(ours) & set(theirs) if ours[i]["error"] is None and theirs[i]["error"] is None
                  and ours[i]["metrics"]["balanced_accuracy"] is not None
                  and theirs[i]["metrics"]["balanced_accuracy"] is not None)
    for i in both:  # the same test examples on both sides; the baseline's text names tokens
        assert [(s["row"], s["start"], s["role"]) for s in ours[i]["samples"]] == \
               [(s["row"], s["start"], s["role"]) for s in theirs[i]["samples"]]
        assert theirs[i]["explanation"].startswith(("token ", "tokens ")) and '"w' in theirs[i]["explanation"]
    diffs = np.array([ours[i]["metrics"]["balanced_accuracy"] - theirs[i]["metrics"]["balanced_accuracy"] for i in both])
    assert lift["n"] == len(both) >= 4 and lift["lift"] == pytest.approx(diffs.mean())
    assert lift["baseline"] == pytest.approx(np.mean([theirs[i]["metrics"]["balanced_accuracy"] for i in both]))
    rng = np.random.default_rng(22)  # the run's seed; percentile bootstrap of the mean, 1000 draws
    means = diffs[rng.integers(0, len(diffs), size=(1000, len(diffs)))].mean(axis=1)
    assert (lift["lift_ci_low"], lift["lift_ci_high"]) == pytest.approx((np.quantile(means, 0.025), np.quantile(means, 0.975)))


def test_mlflow_and_the_report_show_agreement_and_lift(first):
    run_dir, summary, _, _, uri = first
    import mlflow

    run_id = json.loads((run_dir / "mlflow_run.json").read_text())["run_id"]
    metrics = mlflow.MlflowClient(uri).get_run(run_id).data.metrics
    kappa = summary["judge_agreement"]["per_hookpoint"][HP]["detection"]["kappa"]
    assert metrics[f"detection/{HP}/judge_agreement/kappa"] == pytest.approx(kappa["value"])
    assert metrics[f"detection/{HP}/judge_agreement/kappa_ci_low"] == pytest.approx(kappa["ci_low"])
    lift = summary["baseline_explainer"]["lift"][HP]["fuzz"]["balanced_accuracy"]
    assert metrics[f"fuzz/{HP}/balanced_accuracy_vs_top-tokens_lift"] == pytest.approx(lift["lift"])
    assert metrics[f"fuzz:top-tokens/{HP}/balanced_accuracy"] == pytest.approx(lift["baseline"])
    page = (run_dir / "report.html").read_text()
    assert "Agreement of two judges" in page and "Lift over top-tokens" in page
    assert f"{kappa['value']:.3g}" in page and f"{lift['lift']:.3g}" in page
    worst = summary["judge_agreement"]["per_hookpoint"][HP]["detection"]["disagree_most"][0]["latent"]
    assert f'data-goto="{worst}"' in page
    from autointerp.report.load import load_run
    from autointerp.report.render import page_data

    cards = {c["i"]: c for c in page_data(load_run(run_dir), workers=1)["latents"]}
    baseline = results(run_dir, "detection@top-tokens")
    shown = {i: c["bx"].get("top-tokens") for i, c in cards.items() if c["bx"]}
    assert shown and shown == {i: r["explanation"] for i, r in baseline.items() if r["explanation"]}
    assert all("second_judge" not in c["bx"] and "shuffled" not in c["bx"] for c in cards.values())


def test_a_resumed_run_asks_neither_judge_anything(first):
    run_dir, summary, *_ = first
    again, a, b = run(run_dir, config())
    assert a.prompts == [] and b.prompts == []
    assert again["invocation"]["usage_total"]["calls"] == 0 and again["invocation"]["usage_total"]["cached_calls"] == 0
    assert again["judge_agreement"] == summary["judge_agreement"]
    assert again["baseline_explainer"] == summary["baseline_explainer"]


def test_the_second_judge_spends_the_budget(tmp_path):
    """Judge a is free; judge b's price spends a small budget after the first latent: the rest are
    not started. Without the second judge every latent runs."""
    for second, expect_stop in ((True, True), (False, False)):
        run_dir = tmp_path / f"run-{second}"
        make_cache(run_dir, d_sae=6, n_rows=40, ctx_len=64, rates=np.array([0.02, 0.04, 0.06, 0.1, 0.2, 0.4]))
        summary, a, b = run(run_dir, config(pipeline_num_proc=1, baseline_explainer=None), budget_usd=1e-4, second=second)
        stopped = summary["invocation"]["not_started"] > 0
        assert stopped == expect_stop, summary["invocation"]
        assert summary["invocation"]["budget_exhausted"] == expect_stop
        if second:
            assert summary["usage_total"]["cost_usd"] >= 1e-4 and not math.isnan(summary["usage_total"]["cost_usd"])
