"""Best-of-k and revision on the select split: they raise the test score, never touch test examples,
report the test score (not the selection score), count their calls per stage and resume without redoing.

Real parts: a real cache of random words (latent j fires on the words whose id is j mod 16), the real
RecordBuilder, DefaultExplainer and DetectionScorer. The LLM is a scripted judge whose quality depends
on the explanation, the control whose behaviour is known: an explanation names words, and the judge
says "active" exactly for excerpts containing a named word. The explainer names the most frequent
marked words of its prompt: 1 for the single-shot call, 3 for draw 1, 2 for draw 2; a revision adds
the words marked in its missed examples.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from autointerp.clients.accounting import Accounting, current_stage
from autointerp.clients.base import Client, Response
from autointerp.explainers import DefaultExplainer
from autointerp.metrics.classification import verdict_metrics
from autointerp.pipeline.config import InterpretConfig
from autointerp.pipeline.run import Parts, interpret
from autointerp.scorers import DetectionScorer
from cache_helpers import WORDS, make_tokenizer
from run_helpers import make_token_cache

D_SAE, N_ROWS, CTX = 16, 80, 32
NAMED_PER_DRAW = {0: 1, 1: 3, 2: 2}


def named_words(explanation: str) -> set[str]:
    """The words an explanation `the words a, b, c` names."""
    return {w.strip() for w in explanation.split("the words", 1)[-1].split(",") if w.strip()}


def words_of(text: str) -> list[str]:
    return text.replace("<<", " ").replace(">>", " ").split()


class WordJudge(Client):
    """Explains by naming marked words and judges by named words; logs (stage, prompt, settings) per call."""

    model = "scripted"

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.accounting = Accounting()

    async def generate(self, messages, *, max_tokens=256, temperature=0.0, logprobs=False, top_logprobs=0,
                       response_format=None, sample=0) -> Response:
        prompt = messages[-1]["content"]
        self.calls.append({"stage": current_stage(), "prompt": prompt, "temperature": temperature, "sample": sample})
        self.accounting.record(self.model, 100, 10, cached=False)
        if "Write a better explanation" in prompt:
            return Response(text=f"Explanation: the words {', '.join(sorted(self._revised(prompt)))}")
        if "What do the marked tokens have in common" in prompt:
            counts = Counter(w for run in re.findall(r"<<(.*?)>>", prompt) for w in run.split())
            top = sorted(counts, key=lambda w: (-counts[w], w))[: NAMED_PER_DRAW[sample]]
            return Response(text=f"Explanation: the words {', '.join(top)}")
        named = named_words(re.search(r"^Explanation of the latent: (.*)$", prompt, re.MULTILINE).group(1))
        texts = re.findall(r"^Excerpt \d+: (.*)$", prompt, flags=re.MULTILINE)
        return Response(text=json.dumps([int(bool(named & set(words_of(t)))) for t in texts]))

    @staticmethod
    def _revised(prompt: str) -> set[str]:
        earlier = named_words(re.search(r'reads: "(.*)"', prompt).group(1))
        missed = "".join(re.findall(r"^Missed \d+: (.*)$", prompt, flags=re.MULTILINE))
        return earlier | {w for run in re.findall(r"<<(.*?)>>", missed) for w in run.split()}

    def stages(self) -> Counter:
        return Counter(c["stage"] for c in self.calls)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache of random words (no repeated 5-word run in practice) and its word-level tokenizer."""
    root = tmp_path_factory.mktemp("selection")
    tokenizer = make_tokenizer(root / "tokenizer")
    rng = np.random.default_rng(5)
    tokens = rng.integers(3, 3 + len(WORDS), size=(N_ROWS, CTX)).astype(np.int32)
    make_token_cache(root / "template", tokens, d_sae=D_SAE)
    return root, tokenizer


def run(cache, name: str, client: WordJudge | None = None, num_proc: int = 2, overwrite=(), mlflow_uri=None, **selection) -> tuple[Path, dict, WordJudge]:
    """Interpret 3 latents with select split 20+20 (always, so the test split is the same in every run)."""
    root, tokenizer = cache
    run_dir = root / name
    if not run_dir.exists():
        import shutil

        shutil.copytree(root / "template", run_dir)
    client = client or WordJudge()
    config = InterpretConfig(
        explainer=DefaultExplainer(), scorers=[DetectionScorer(n_examples_per_prompt=5)], max_latents=3,
        pipeline_num_proc=num_proc, overwrite=list(overwrite), output_tokens=False, mlflow=mlflow_uri is not None,
        tracking_uri=mlflow_uri, report=False, selection=selection,
        examples={"min_examples": 60, "n_examples_train": 10, "n_examples_select": 20, "n_examples_test": 20,
                  "n_non_activating": 20, "example_ctx_len": 8},
    )
    summary = interpret(run_dir, config, parts=Parts(client=client, tokenizer=tokenizer, accounting=client.accounting))
    return run_dir, summary, client


def explanation_files(run_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run_dir / "explanations").rglob("*.json"))]


def hand_test_score(data: dict) -> float:
    """Balanced accuracy of the kept explanation on the record's test split, computed from the words."""
    named = named_words(data["explanation"]["text"])
    record = data["record"]
    truth = [True] * len(record["test"]) + [False] * len(record["negatives"])
    said = [bool(named & set(words_of("".join(ex["str_tokens"])))) for ex in record["test"] + record["negatives"]]
    return verdict_metrics(truth, said)["balanced_accuracy"]


def test_best_of_k_and_revision_raise_the_test_score(cache):
    scores = {}
    for name, selection in [("single", {}), ("best3", {"k": 3}), ("revised", {"k": 3, "rounds": 1})]:
        run_dir, summary, _ = run(cache, name, **selection)
        files = explanation_files(run_dir)
        assert len(files) == 3 and all(f["error"] is None for f in files)
        by_hand = [hand_test_score(f) for f in files]
        scores[name] = summary["per_hookpoint"]["layers.15"]["detection"]["balanced_accuracy"]["mean"]
        assert scores[name] == pytest.approx(np.mean(by_hand))
    assert scores["single"] < scores["best3"] < scores["revised"]
    for data in files:  # the revision named every firing word: better on select, so kept
        block = data["selection"]
        assert block["revisions"][0]["kept"] and block["chosen"] == 3 == block["revisions"][0]["candidate"]
        assert block["chosen_select_score"] > block["candidates"][block["revisions"][0]["from"]]["select_score"]
    assert scores["revised"] == pytest.approx(1.0)  # naming every firing word: the judge is right everywhere


def test_the_selection_never_shows_a_test_window(cache):
    run_dir, _, client = run(cache, "leak", num_proc=1, k=3, rounds=1)  # one latent at a time: calls in latent order
    starts = [i for i, c in enumerate(client.calls) if c["stage"] == "explain" and c["sample"] == 0]
    segments = [client.calls[a:b] for a, b in zip(starts, starts[1:] + [len(client.calls)])]
    files = explanation_files(run_dir)
    assert len(segments) == len(files) == 3
    for data, calls in zip(files, segments):  # a latent's own test windows (other latents' may overlap its select)
        grams = set()
        for ex in data["record"]["test"]:
            words = words_of("".join(ex["str_tokens"]))
            grams |= {tuple(words[i : i + 5]) for i in range(len(words) - 4)}

        def shows_test(prompt: str) -> bool:
            words = words_of(prompt)
            return any(tuple(words[i : i + 5]) in grams for i in range(len(words) - 4))

        by_stage = Counter(c["stage"] for c in calls)
        assert by_stage["explain"] == 3 and by_stage["revise"] == 1 and by_stage["select/detection"] == 4 * 8
        for call in calls:
            if call["stage"] in ("explain", "revise", "select/detection"):
                assert not shows_test(call["prompt"]), call["stage"]
        # the control: the same check finds the test windows where they belong, in the reported scoring
        scored = [c["prompt"] for c in calls if c["stage"] == "score/detection"]
        assert len(scored) == 8 and sum(map(shows_test, scored)) >= 4
    draws = sorted((c["sample"], c["temperature"]) for c in client.calls if c["stage"] == "explain")
    assert draws == [(0, 0.0)] * 3 + [(1, 0.7)] * 3 + [(2, 0.7)] * 3


def test_the_reported_figure_is_the_test_score_not_the_selection_score(cache):
    run_dir, summary, _ = run(cache, "reported", k=3)
    differs = 0
    for data in explanation_files(run_dir):
        block = data["selection"]
        chosen = block["candidates"][block["chosen"]]
        assert chosen["text"] == data["explanation"]["text"]
        assert block["chosen_select_score"] == max(c["select_score"] for c in block["candidates"])
        assert block["revisions"] == []
        latent = data["latent"]
        score = json.loads((run_dir / "scores" / "detection" / latent["hookpoint"] / f"{latent['index']}.json").read_text())
        assert {s["role"] for s in score["samples"]} == {"test", "negative"}
        assert score["explanation"] == chosen["text"]
        assert score["metrics"]["balanced_accuracy"] == pytest.approx(hand_test_score(data))
        differs += not math.isclose(score["metrics"]["balanced_accuracy"], block["chosen_select_score"])
        saved = json.loads((run_dir / "selection" / latent["hookpoint"] / f"{latent['index']}.json").read_text())
        for candidate in saved["candidates"]:
            assert {s["role"] for s in candidate["select"]["samples"]} == {"select", "select_negative"}
    assert differs > 0  # the two splits give different figures, so reporting the wrong one would show
    per_latent = [json.loads(p.read_text())["metrics"]["balanced_accuracy"]
                  for p in sorted((run_dir / "scores" / "detection").rglob("*.json"))]
    assert summary["per_hookpoint"]["layers.15"]["detection"]["balanced_accuracy"]["mean"] == pytest.approx(np.mean(per_latent))


def test_every_call_is_counted_under_its_stage_in_the_summary_and_mlflow(cache, tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run_dir, summary, client = run(cache, "costs", mlflow_uri=uri, k=3, rounds=1)
    counted = {stage: usage["calls"] for stage, usage in summary["usage"].items()}
    assert counted == dict(client.stages())
    assert set(counted) == {"explain", "select/detection", "revise", "score/detection"}
    run_id = json.loads((run_dir / "mlflow_run.json").read_text())["run_id"]
    logged = mlflow.MlflowClient(tracking_uri=uri).get_run(run_id).data
    assert {s: logged.metrics[f"usage/{s}/calls"] for s in counted} == counted
    assert logged.params["interpret.selection.k"] == "3"


def test_a_rerun_redoes_nothing_and_a_cut_run_redoes_only_what_was_lost(cache):
    run_dir, _, first = run(cache, "resume", k=3, rounds=1)
    _, _, again = run(cache, "resume", k=3, rounds=1)
    assert again.calls == []
    # cut after the selection state of every latent was saved, before explanations and scores were written
    for sub in ("explanations", "scores"):
        for path in (run_dir / sub).rglob("*.json"):
            path.unlink()
    # and one latent's revision round lost as well
    state_path = run_dir / "selection" / "layers.15" / "0.json"
    state = json.loads(state_path.read_text())
    state["rounds"], state["candidates"] = [], [c for c in state["candidates"] if c["origin"] != "revision"]
    state_path.write_text(json.dumps(state))
    _, _, resumed = run(cache, "resume", k=3, rounds=1)
    stages = resumed.stages()
    assert stages["explain"] == 0 and stages["revise"] == 1
    assert stages["select/detection"] == first.stages()["select/detection"] // 12  # one candidate's prompts
    assert stages["score/detection"] == first.stages()["score/detection"]
    after = [json.loads(p.read_text()) for p in sorted((run_dir / "explanations").rglob("*.json"))]
    assert all(a["selection"]["revisions"][0]["candidate"] is not None for a in after)
    # asking to redo the explanations redoes the selection too
    _, _, redone = run(cache, "resume", overwrite=["explanations"], k=3, rounds=1)
    assert redone.stages() == first.stages()


def test_a_spent_budget_stops_revising(cache):
    root, _ = cache
    client = WordJudge()
    # 3 draws and their select scores of the first latent cost more than the budget
    client.accounting = Accounting(prices={"scripted": (1000.0, 0.0)}, budget_usd=1.0)
    run_dir, _, _ = run(cache, "budget", client=client, k=3, rounds=2)
    assert client.stages()["revise"] == 0
    data = explanation_files(run_dir)
    assert data and all(d["selection"]["stopped"] for d in data if d["explanation"])


@pytest.mark.parametrize("selection, examples, message", [
    ({"k": 3}, {"n_examples_select": 0}, "selection.k=3 needs a select split: set examples.n_examples_select"),
    ({"rounds": 1}, {"n_examples_select": 0}, "selection.rounds=1 needs a select split"),
    ({"k": 2, "scorer": "fuzzz"}, {"n_examples_select": 5}, "selection.scorer='fuzzz' is not one of"),
    ({"k": 0}, {}, "selection.k must be an integer >= 1"),
    ({"train_fraction": 0.0}, {}, "selection.train_fraction must lie in (0, 1]"),
    ({"k": 2}, {"n_examples_select": 5, "n_non_activating_select": 0}, "examples.n_non_activating_select is 0"),
])
def test_bad_selection_settings_name_themselves(selection, examples, message):
    with pytest.raises(ValueError) as err:
        InterpretConfig(selection=selection, examples=examples)
    assert message in str(err.value)


def test_the_report_shows_the_candidates_and_the_select_split(cache):
    from autointerp.report import write_report
    from autointerp.report.headless import Chromium, find_chromium

    run_dir, _, _ = run(cache, "page", k=3, rounds=1)
    path = write_report(run_dir)
    files = explanation_files(run_dir)
    if not find_chromium():
        pytest.fail("chromium is missing: `make install` installs Debian's chromium (or set $CHROMIUM)")
    with Chromium(timeout=60) as browser:
        page = browser.open(path.as_uri())
        page.wait_for("document.documentElement.dataset.ready === '1'")
        lists = page.evaluate("[...document.querySelectorAll('#cards .card details.selection')]"
                              ".map(d => [...d.querySelectorAll('li')].map(li => [li.className, li.textContent]))")
        assert page.console_errors() == []
        roles = page.evaluate("JSON.parse(document.getElementById('report-data').textContent).latents"
                              ".map(c => [[...new Set(c.act.map(e => e.k))].sort(), c.nnon])")
    assert len(lists) == len(files) == 3
    for items, data in zip(lists, files):
        block = data["selection"]
        assert len(items) == len(block["candidates"]) == 4  # 3 draws and 1 revision
        chosen = [text for cls, text in items if cls == "chosen"]
        assert len(chosen) == 1 and data["explanation"]["text"] in chosen[0]
    for (shown, n_non), data in zip(roles, files):  # every split is labelled; the silent ones counted
        assert shown == ["select", "test", "train"]
        record = data["record"]
        assert n_non == len(record["negatives"]) + len(record["select_negatives"]) + len(record["explainer_negatives"])


def test_the_choice_rule_on_hand_made_states():
    from autointerp.pipeline.selection import chosen_index

    def cand(origin, value, error=None):
        return {"origin": origin, "error": error, "select": None if error else {"metrics": {"balanced_accuracy": value}}}

    state = {"candidates": [cand("single-shot", 0.6), cand("draw", 0.8), cand("draw", 0.8), cand("revision", 0.8),
                            cand("revision", 0.9)],
             "rounds": [{"candidate": 3}, {"candidate": 4}]}
    assert chosen_index(state, "balanced_accuracy") == 4  # tie at 0.8 keeps draw 1; the 0.9 revision wins
    state["candidates"][4]["select"]["metrics"]["balanced_accuracy"] = math.nan
    assert chosen_index(state, "balanced_accuracy") == 1  # a tie or NaN never replaces
    state["candidates"][1] = cand("draw", None, error="ExplanationError: no explanation")
    assert chosen_index(state, "balanced_accuracy") == 2
    assert chosen_index({"candidates": [cand("single-shot", None, error="x")], "rounds": []}, "balanced_accuracy") is None
