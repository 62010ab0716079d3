"""A resumed run never mixes protocols, and the shuffled-explanation control runs end to end.

Real parts: the interpret stage, the RecordBuilder on a real cache of news text (latent j fires on
one word), the default explainer and the detection scorer. The LLM is a scripted judge (house
rule 7): it explains with the word that is marked most often, and answers detection prompts by
whether the excerpt holds the word its explanation names.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from autointerp.clients.base import Client, Response
from autointerp.examples import ExamplesConfig, RecordBuilder
from autointerp.explainers import DefaultExplainer
from autointerp.latents import CacheReader
from autointerp.pipeline.config import InterpretConfig
from autointerp.pipeline.run import Parts, interpret
from autointerp.pipeline.tracking import summary_metrics
from autointerp.scorers import DetectionScorer
from examples.examples_cache import write_cache
from scorers.judges import HP, N_ROWS, firing_tokens, news_tokens, token_latent_nonzeros


class WordJudge(Client):
    """Explains with the most often marked word; detects by that word (scripted, no skill beyond it)."""

    model = "word-judge"

    def __init__(self) -> None:
        self.explained = 0
        self.scored = 0

    async def generate(self, messages, **kwargs) -> Response:
        prompt = messages[-1]["content"]
        named = re.search(r"Explanation of the latent: the word '(.*)'", prompt)
        if named is None:  # an explainer prompt
            self.explained += 1
            word = Counter(w.strip() for w in re.findall(r"<<(.*?)>>", prompt)).most_common(1)[0][0]
            return Response(text=f"Explanation: the word '{word}'")
        self.scored += 1
        texts = re.findall(r"^Excerpt \d+: (.*)$", prompt, flags=re.MULTILINE)
        return Response(text=json.dumps([int(named.group(1) in t) for t in texts]))


@pytest.fixture(scope="module")
def news(tmp_path_factory):
    """(tokens, nonzeros, tokenizer) of the news cache, made once."""
    from autointerp.models.subject import load_tokenizer

    tokenizer = load_tokenizer("embedded:SmolLM2-135M-Instruct")
    tokens = news_tokens(tokenizer)
    chosen = firing_tokens(tokens, tokenizer)[:6]
    return tokens, token_latent_nonzeros(tokens, chosen), tokenizer, len(chosen)


def make_run(run_dir: Path, news, n_rows: int = N_ROWS) -> None:
    """Write (or rewrite) the run's cache from the first `n_rows` rows."""
    tokens, (index, latent, value), _, d_sae = news
    keep = index < n_rows * tokens.shape[1]
    shutil.rmtree(run_dir / "latents", ignore_errors=True)
    write_cache(run_dir / "latents", tokens[:n_rows], {HP: (index[keep], latent[keep], value[keep])}, {HP: d_sae})


def run(run_dir: Path, news, judge: WordJudge, seed: int = 22, shuffled: bool = False, max_latents=None) -> dict:
    _, _, tokenizer, _ = news
    examples = ExamplesConfig(min_examples=30, n_examples_train=10, n_examples_test=20, n_non_activating=20,
                              seed=seed)
    config = InterpretConfig(examples=examples, mlflow=False, report=False,
                             output_tokens=False, shuffled_baseline=shuffled, max_latents=max_latents,
                             pipeline_num_proc=4)
    builder = RecordBuilder(CacheReader(run_dir / "latents"), examples, tokenizer)
    parts = Parts(client=judge, builder=builder, tokenizer=tokenizer, explainer=DefaultExplainer(tokenizer=tokenizer),
                  scorers={"detection": DetectionScorer(tokenizer=tokenizer)})
    return interpret(run_dir, config, parts=parts)


def stored(run_dir: Path, sub: str) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((run_dir / sub / HP).glob("*.json"))}


def test_changing_the_examples_seed_redoes_everything_and_mixes_nothing(tmp_path, news):
    run_dir = tmp_path / "same-name"
    make_run(run_dir, news)
    first_judge = WordJudge()
    first = run(run_dir, news, first_judge)
    before = stored(run_dir, "explanations")
    n = first["counts"]["explained"]
    assert n == first_judge.explained >= 4
    # the same settings again: nothing is redone
    again = WordJudge()
    run(run_dir, news, again)
    assert again.explained == again.scored == 0
    # another examples.seed: every explanation and score is made anew, none of the first protocol is kept
    judge = WordJudge()
    second = run(run_dir, news, judge, seed=23)
    after = stored(run_dir, "explanations")
    assert judge.explained == n and judge.scored > 0
    assert all(after[k]["fingerprint"] != before[k]["fingerprint"] for k in before)
    rows = lambda data: {(e["row"], e["start"]) for e in data["record"]["test"]}
    assert any(rows(after[k]) != rows(before[k]) for k in before)  # the new seed drew other windows
    fingerprints = {d["fingerprint"] for d in stored(run_dir, "scores/detection").values()}
    assert len(fingerprints) == 1
    assert second["per_hookpoint"][HP]["detection"]["balanced_accuracy"]["n"] == n  # not 2n
    # a run over fewer latents under the first seed leaves the others' (second-seed) results out
    partial = run(run_dir, news, WordJudge(), seed=22, max_latents=2)
    assert partial["scorer_counts"]["detection"]["scored"] == 2


def test_changing_n_tokens_redoes_everything(tmp_path, news):
    run_dir = tmp_path / "same-name"
    make_run(run_dir, news)
    run(run_dir, news, WordJudge())
    before = stored(run_dir, "explanations")
    make_run(run_dir, news, n_rows=N_ROWS - 64)  # the cache of a smaller data.n_tokens, same name
    judge = WordJudge()
    summary = run(run_dir, news, judge)
    after = stored(run_dir, "explanations")
    assert judge.explained == summary["counts"]["explained"] > 0
    assert all(after[k]["fingerprint"] != before[k]["fingerprint"] for k in after)
    for data in after.values():  # the rebuilt records come from the smaller cache only
        assert all(e["row"] < N_ROWS - 64 for e in data["record"]["test"] + data["record"]["negatives"])


def test_shuffled_baseline_scores_each_latent_with_another_latents_explanation(tmp_path, news):
    run_dir = tmp_path / "control"
    make_run(run_dir, news)
    summary = run(run_dir, news, WordJudge(), shuffled=True)
    control = stored(run_dir, "scores/detection@shuffled")
    explanations = {k: v["explanation"]["text"] for k, v in stored(run_dir, "explanations").items()}
    assert len(control) == len(explanations) >= 4
    for name, result in control.items():
        partner = result["explanation_of"].split("/")[-1] + ".json"
        assert partner != name and result["explanation"] == explanations[partner]
    lift = summary["shuffled_baseline"][HP]["detection"]["balanced_accuracy"]
    real = summary["per_hookpoint"][HP]["detection"]["balanced_accuracy"]["mean"]
    assert lift["shuffled"] == pytest.approx(np.mean([r["metrics"]["balanced_accuracy"] for r in control.values()]))
    assert lift["lift"] == pytest.approx(real - lift["shuffled"]) and lift["lift_ci_low"] > 0.2
    assert abs(lift["shuffled"] - 0.5) < 0.15
    assert f"detection/{HP}/balanced_accuracy_vs_shuffled_lift" in summary_metrics(summary)
    # a rerun finds the control on disk and asks nothing
    judge = WordJudge()
    run(run_dir, news, judge, shuffled=True)
    assert judge.scored == judge.explained == 0


def test_a_cache_of_other_data_settings_is_refused_not_reused():
    """predict reuses a finished cache only when the dataset, split, n_tokens, seed and ctx_len agree."""
    from types import SimpleNamespace

    from autointerp.cli.predict import cache_mismatch
    from autointerp.latents.manifest import Manifest

    manifest = Manifest(hookpoints=[], ctx_len=64, n_rows=640, token_files=[], per_hookpoint={},
                        dataset={"dataset_repo": "embedded:gensim", "dataset_split": "train", "n_tokens": 40_960, "seed": 22})
    same = SimpleNamespace(dataset_repo="embedded:gensim", dataset_split="train", n_tokens=40_960, seed=22,
                           cache_ctx_len=64)
    assert cache_mismatch(manifest, same) == ""
    assert cache_mismatch(manifest, SimpleNamespace(**{**vars(same), "n_tokens": 20_480})) == "n_tokens: 40960 -> 20480"
    assert "dataset_split" in cache_mismatch(manifest, SimpleNamespace(**{**vars(same), "dataset_split": "test"}))
    assert "cache_ctx_len: 64 -> 128" in cache_mismatch(manifest, SimpleNamespace(**{**vars(same), "cache_ctx_len": 128}))
