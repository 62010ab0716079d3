"""Calibration through the same stage: known-answer latents written next to a real hookpoint of a real
cache (news text, SmolLM2's tokenizer) are built by the real RecordBuilder, explained by the run's
explainer and scored by its scorers. A scripted judge that knows the sets lands near 1.0 on them, an
always-yes judge at chance (0.5); and the calibration hookpoint never mixes into the real one's summary.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scorers"))  # the skill-less judges' world

from examples.examples_cache import write_cache  # noqa: E402
from judges import EXCERPT, HP, firing_tokens, marked, news_tokens, token_latent_nonzeros  # noqa: E402

from autointerp.clients.base import Client, Response  # noqa: E402
from autointerp.examples import ExamplesConfig, RecordBuilder  # noqa: E402
from autointerp.explainers import DefaultExplainer  # noqa: E402
from autointerp.latents.known_answer import HOOKPOINT, known_answer_reader, write_known_answer  # noqa: E402
from autointerp.pipeline.config import InterpretConfig  # noqa: E402
from autointerp.pipeline.run import Parts, interpret  # noqa: E402
from autointerp.records import Latent  # noqa: E402
from autointerp.scorers import DetectionScorer, FuzzScorer  # noqa: E402

N_KNOWN, N_REAL, CROP = 6, 3, 8
EXAMPLES = dict(min_examples=20, n_examples_train=8, n_examples_test=20, n_non_activating=20, example_ctx_len=32)


@pytest.fixture(scope="module")
def tokenizer():
    from autointerp.models.subject import load_tokenizer

    return load_tokenizer("embedded:SmolLM2-135M-Instruct")


def make_run(root: Path, tokenizer) -> Path:
    """A run folder whose cache holds real news text and one real hookpoint (latent j fires on a word)."""
    tokens = news_tokens(tokenizer)
    chosen = firing_tokens(tokens, tokenizer)
    write_cache(root / "latents", tokens, {HP: token_latent_nonzeros(tokens, chosen)}, {HP: len(chosen)})
    return root


class KnownOracle:
    """Where each known-answer latent fires, and where each excerpt lies (found by its text)."""

    def __init__(self, run_dir: Path, tokenizer) -> None:
        sets = write_known_answer(run_dir / "latents", tokenizer, N_KNOWN, width=32, min_windows=EXAMPLES["min_examples"])
        reader = known_answer_reader(run_dir / "latents")
        builder = RecordBuilder(reader, ExamplesConfig(**EXAMPLES), tokenizer)  # the stage builds the same records
        records = [r for r in (builder.build(Latent(HOOKPOINT, j)) for j in range(len(sets))) if r is not None]
        self.sets, self.ctx = sets, reader.ctx_len
        self.fires = {j: set(reader.latent(HOOKPOINT, j).token_index.tolist()) for j in range(len(sets))}
        self.where: dict[str, tuple[int, tuple[str, ...]]] = {}
        for record in records:
            for ex in record.train + record.test + record.negatives + record.explainer_negatives:
                toks = tuple(ex.str_tokens)
                for c in range(CROP + 1):
                    for width in (len(toks), len(toks) - CROP):
                        part = toks[c : c + width]
                        self.where.setdefault("".join(part), (int(ex.row) * self.ctx + int(ex.start) + c, part))

    def firing(self, j: int, excerpt: str) -> set[int] | None:
        """Positions of the excerpt where set j fires; None for an excerpt of no known-answer record."""
        found = self.where.get(excerpt.replace("<<", "").replace(">>", ""))
        if found is None:
            return None
        first, toks = found
        return {i for i in range(len(toks)) if first + i in self.fires[j]}

    def shown(self, excerpt: str) -> set[int]:
        return marked(excerpt, self.where[excerpt.replace("<<", "").replace(">>", "")][1])


class SetJudge(Client):
    """Explains and judges by a rule: `knows` (explains a latent by the set whose firing matches the
    marks, and answers from where that set fires) or `yes` (always yes, explanation says nothing)."""

    model = "set-judge"

    def __init__(self, rule: str, oracle: KnownOracle) -> None:
        self.rule, self.oracle = rule, oracle

    async def generate(self, messages, **kwargs) -> Response:
        prompt = messages[-1]["content"]
        texts = EXCERPT.findall(prompt)
        if "Explanation of the latent:" not in prompt:  # the explainer's prompt
            return Response(text=f"Explanation: {self.explain(texts)}")
        said = re.search(r"Explanation of the latent: (.*)$", prompt, re.MULTILINE).group(1)
        j = next((j for j, s in enumerate(self.oracle.sets) if s.description == said.strip()), None)
        return Response(text=str([int(self.verdict(t, j)) for t in texts]))

    def explain(self, texts: list[str]) -> str:
        if self.rule == "yes":
            return "various text"
        for j, known in enumerate(self.oracle.sets):
            fires = [(self.oracle.firing(j, t), t) for t in texts if "<<" in t]
            if fires and all(f is not None and f == self.oracle.shown(t) for f, t in fires):
                return known.description
        return "a real latent"

    def verdict(self, text: str, j: int | None) -> bool:
        if self.rule == "yes":
            return True
        fires = self.oracle.firing(j, text) if j is not None else None
        if not fires:
            return False
        return "<<" not in text or self.oracle.shown(text) == fires


def run(run_dir: Path, tokenizer, rule: str, **settings) -> dict:
    oracle = KnownOracle(run_dir, tokenizer)
    settings = {"mlflow": False, "report": False, **settings}
    config = InterpretConfig(calibration=N_KNOWN, max_latents=N_REAL, output_tokens=False, pipeline_num_proc=4,
                             examples=ExamplesConfig(**EXAMPLES), **settings)
    scorers = {"detection": DetectionScorer(), "fuzz": FuzzScorer()}
    for scorer in scorers.values():
        scorer.bind(tokenizer=tokenizer, seed=config.seed)
    parts = Parts(client=SetJudge(rule, oracle), explainer=DefaultExplainer(), scorers=scorers, tokenizer=tokenizer)
    return interpret(run_dir, config, parts=parts), oracle, run_dir


@pytest.fixture(scope="module")
def knows(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("knows")
    return run(make_run(root / "run", tokenizer), tokenizer, "knows", report=True, mlflow=True,
               tracking_uri=f"sqlite:///{root / 'mlflow.db'}")


@pytest.fixture(scope="module")
def yes(tmp_path_factory, tokenizer):
    return run(make_run(tmp_path_factory.mktemp("yes"), tokenizer), tokenizer, "yes")


def known(summary: dict, scorer: str, metric: str = "balanced_accuracy") -> dict:
    return summary["calibration"]["per_scorer"][scorer]["known_answer"][metric]


def test_a_judge_that_knows_the_sets_lands_near_one_and_names_every_set(knows):
    summary, oracle, _ = knows
    block = summary["calibration"]
    assert block["n_latents"] == len(oracle.sets) == N_KNOWN
    kinds = {s.kind for s in oracle.sets}
    assert {"months", "digits", "word", "punctuation", "after"} <= kinds  # news text has them all
    for scorer in ("detection", "fuzz"):
        m = known(summary, scorer)
        assert m["n"] == N_KNOWN and m["mean"] >= 0.95 and m["ci_low"] > m["chance"] == 0.5, (scorer, m)
    assert block["n_named"] == N_KNOWN  # its explanations are the sets' descriptions
    assert all(row["names_set"] and row["error"] is None for row in block["latents"])
    assert "it recognises a known answer" in block["verdict"] and "carry no information" not in block["verdict"]


def test_an_always_yes_judge_lands_at_chance_and_the_verdict_says_its_scores_carry_no_information(yes):
    summary, _, _ = yes
    block = summary["calibration"]
    for scorer in ("detection", "fuzz"):
        per_latent = [row["scores"][scorer]["balanced_accuracy"] for row in block["latents"]]
        assert per_latent == [0.5] * N_KNOWN
        m = known(summary, scorer)
        assert m["mean"] == 0.5 and m["ci_low"] <= m["chance"]
        assert (f"on known-answer latents this judge reaches {scorer} 0.50 [0.50, 0.50] (chance 0.50): its {scorer} "
                "scores on real latents carry no information") in block["verdict"]
    assert block["n_named"] == 0


def test_the_known_answer_records_come_from_the_real_builder_on_the_real_cache(knows):
    summary, oracle, run_dir = knows
    tokens = known_answer_reader(run_dir / "latents").tokens  # the run's own token files, through "../"
    for j, known_set in enumerate(oracle.sets):
        stored = json.loads((run_dir / "calibration" / "explanations" / HOOKPOINT / f"{j}.json").read_text())
        examples = stored["record"]["train"] + stored["record"]["test"]
        assert len(examples) == EXAMPLES["n_examples_train"] + EXAMPLES["n_examples_test"]
        for ex in examples:  # it fires exactly where the set says, in the cache's text
            row, start = ex["row"], ex["start"]
            truth = known_set.fires(tokens[row : row + 1])[0, start : start + len(ex["activations"])]
            assert np.array_equal(np.asarray(ex["activations"]) > 0, truth), (known_set.name, row, start)
    assert not (run_dir / "explanations" / HOOKPOINT).exists() and not (run_dir / "scores" / "detection" / HOOKPOINT).exists()


def test_the_calibration_hookpoint_never_mixes_into_the_real_summary(knows):
    summary, _, _ = knows
    assert summary["hookpoints"] == [HP] and list(summary["per_hookpoint"]) == [HP]
    assert summary["counts"]["latents"] == N_REAL  # max_latents picks real latents only
    assert set(summary["scorer_counts"]["detection"]) and summary["scorer_counts"]["detection"]["latents"] == N_REAL
    assert all(HOOKPOINT not in json.dumps(v) for k, v in summary.items() if k != "calibration")
    real = summary["calibration"]["per_scorer"]["detection"]["real"]
    assert list(real) == [HP] and real[HP] == summary["per_hookpoint"][HP]["detection"]


def test_the_verdict_reaches_the_report_and_mlflow(knows):
    summary, _, run_dir = knows
    verdict = summary["calibration"]["verdict"]
    html = (run_dir / "report.html").read_text()
    assert 'id="calibration"' in html and verdict.replace("'", "&#x27;").split(":")[0] in html
    assert "tokens made of digits" in html
    from mlflow.tracking import MlflowClient

    run_id = json.loads((run_dir / "mlflow_run.json").read_text())["run_id"]
    logged = MlflowClient(f"sqlite:///{run_dir.parent / 'mlflow.db'}").get_run(run_id).data
    assert logged.tags["autointerp.calibration_verdict"] == verdict
    assert logged.metrics["calibration/detection/balanced_accuracy"] == known(summary, "detection")["mean"]
    assert logged.metrics["calibration/n_named"] == N_KNOWN
    assert not [k for k in logged.metrics if HOOKPOINT in k]  # per-hookpoint metrics name the real hookpoint only
