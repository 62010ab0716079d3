"""Write fake-but-consistent run folders in the exact layout the interpret stage writes.

Records, explanations and scores are real `autointerp.records` objects; scorer predictions are
drawn at random and their metrics are computed from those predictions, so everything agrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autointerp.io import write_json
from autointerp.records import (ActivatingExample, Explanation, Latent, LatentRecord, NonActivatingExample,
                                ScoredSample, ScoreResult)

WORDS = [" the", " cat", " sat", " on", " a", " mat", " and", " dog", " ran", " far", ",", ".", " Paris",
         " river", " bank", " money", " of", " in", "\n", " 1984", " said", " he", " she", " it"]


@dataclass
class RunSpec:
    """What to put in a fake run."""

    hookpoints: tuple[str, ...] = ("layers.3", "layers.5")
    latents_per_hookpoint: int = 6
    scorers: tuple[str, ...] = ("detection", "fuzz")
    n_train: int = 6
    n_test: int = 6
    n_negatives: int = 6
    ctx: int = 16
    failed: set[tuple[str, int]] = field(default_factory=set)
    """Latents whose explanation fails (no explanation, no scores)."""
    missing_scores: set[tuple[str, str, int]] = field(default_factory=set)
    """(scorer, hookpoint, index) whose score file is not written."""
    explanation_text: dict[tuple[str, int], str] = field(default_factory=dict)
    """Override the text of chosen explanations."""
    summary: bool = True
    seed: int = 0


def _examples(rng, cls, n: int, role: str, ctx: int, row0: int, active: bool, scale: float) -> list:
    out = []
    for k in range(n):
        ids = rng.integers(0, len(WORDS), ctx)
        acts = np.zeros(ctx, np.float32)
        if active:
            peak = rng.integers(2, ctx - 2)
            acts[peak] = scale * rng.uniform(0.3, 1.0)
            acts[peak + 1] = acts[peak] * rng.uniform(0, 0.5)
        extra = dict(normalized=np.round(acts / scale * 10).astype(np.int8), quantile=int(k % 3)) if active else {}
        out.append(cls(row=row0 + k, start=int(rng.integers(0, 40)), tokens=ids.astype(np.int32), activations=acts,
                       role=role, str_tokens=[WORDS[i] for i in ids], **extra))
    return out


def make_record(rng, latent: Latent, spec: RunSpec) -> LatentRecord:
    """A record with train, test, negatives and explainer negatives at distinct rows."""
    scale = float(rng.uniform(1, 20))
    base = 1000 * (latent.index + 1)
    record = LatentRecord(
        latent=latent,
        train=_examples(rng, ActivatingExample, spec.n_train, "train", spec.ctx, base, True, scale),
        test=_examples(rng, ActivatingExample, spec.n_test, "test", spec.ctx, base + 100, True, scale),
        negatives=_examples(rng, NonActivatingExample, spec.n_negatives, "negative", spec.ctx, base + 200, False, scale),
        explainer_negatives=_examples(rng, NonActivatingExample, 2, "explainer_negative", spec.ctx, base + 300, False, scale),
        n_activating=int(rng.integers(20, 500)), firing_rate=float(10 ** rng.uniform(-5, -1)),
        mean_activation=scale / 3, max_activation=scale, top_output_tokens=[" cat", " dog", "<b>"],
    )
    record.n_nonzero = record.n_activating * 2
    return record


def balanced_accuracy(samples: list[ScoredSample]) -> float:
    """Mean of the recall on positives and on negatives, unparsed samples counted as wrong."""
    def recall(truth: bool) -> float:
        group = [s for s in samples if s.activating == truth]
        return sum(s.prediction == truth for s in group) / len(group)
    return (recall(True) + recall(False)) / 2


def make_score(rng, record: LatentRecord, scorer: str, text: str) -> ScoreResult:
    """Random yes/no answers on test examples and negatives, one unparsed, metrics from them."""
    skill = rng.uniform(0.5, 1.0)
    samples = []
    for ex in record.test + record.negatives:
        truth = ex.role == "test"
        prediction = truth if rng.random() < skill else not truth
        samples.append(ScoredSample(row=ex.row, start=ex.start, role=ex.role, activating=truth, prediction=prediction,
                                    probability=float(rng.random())))
    samples[-1].prediction = None
    ba = balanced_accuracy(samples)
    return ScoreResult(latent=record.latent, scorer=scorer, explanation=text, samples=samples,
                       metrics={"balanced_accuracy": ba, "accuracy": float(np.mean([s.prediction == s.activating for s in samples]))},
                       n_unparseable=1, prompt_tokens=500, completion_tokens=20)


def make_run(run_dir: Path, spec: RunSpec | None = None) -> dict[tuple[str, int], dict[str, float]]:
    """Write a run folder; returns {(hookpoint, index): {scorer: balanced accuracy}} as written."""
    spec = spec or RunSpec()
    rng = np.random.default_rng(spec.seed)
    written: dict[tuple[str, int], dict[str, float]] = {}
    write_json(run_dir / "run_config.json", {"name": run_dir.name, "scorers": list(spec.scorers)})
    for hp in spec.hookpoints:
        for index in range(spec.latents_per_hookpoint):
            latent = Latent(hp, index)
            record = make_record(rng, latent, spec)
            failed = (hp, index) in spec.failed
            text = spec.explanation_text.get((hp, index), f"the word {WORDS[index % len(WORDS)].strip()!r} after a noun")
            explanation = None if failed else Explanation(latent, text, "default", model="fake")
            write_json(run_dir / "explanations" / hp / f"{index}.json", {
                "latent": {"hookpoint": hp, "index": index},
                "explanation": explanation.to_dict() if explanation else None,
                "error": "explainer reply could not be parsed" if failed else None,
                "record": record.to_dict()})
            written[(hp, index)] = {}
            for scorer in spec.scorers if not failed else ():
                result = make_score(rng, record, scorer, text)
                if (scorer, hp, index) not in spec.missing_scores:
                    write_json(run_dir / "scores" / scorer / hp / f"{index}.json", result.to_dict())
                    written[(hp, index)][scorer] = result.metrics["balanced_accuracy"]
    if spec.summary:
        write_json(run_dir / "summary.json", _summary(run_dir.name, spec, written))
    return written


def _summary(name: str, spec: RunSpec, written: dict) -> dict:
    per_hp = {}
    for hp in spec.hookpoints:
        per_hp[hp] = {}
        for scorer in spec.scorers:
            values = [v[scorer] for (h, _), v in written.items() if h == hp and scorer in v]
            mean = float(np.mean(values)) if values else None
            per_hp[hp][scorer] = {"balanced_accuracy": {"mean": mean, "ci_low": mean and mean - 0.05,
                                                        "ci_high": mean and mean + 0.05, "chance": 0.5, "n": len(values)}}
    failed = {hp: sorted(i for h, i in spec.failed if h == hp) for hp in spec.hookpoints}
    return {"name": name, "model": "SmolLM2-135M", "sparse_model": "fake-sae", "explainer_model": "fake-llm", "explainer": "default",
            "scorers": list(spec.scorers), "hookpoints": list(spec.hookpoints), "per_hookpoint": per_hp,
            "counts": {"latents": len(written), "explained": len(written) - len(spec.failed), "failed": len(spec.failed),
                       "skipped": 2, "unparseable": len(written)},
            "skipped": {spec.hookpoints[0]: [17, 99]}, "failed": failed,
            "skip_reasons": {spec.hookpoints[0]: {"17": "only 2 activating examples (at least 3 needed)"}},
            "high_quality": {hp: {s: 1 for s in spec.scorers} for hp in spec.hookpoints},
            "usage": {"explain": {"prompt_tokens": 1000, "completion_tokens": 100, "cached_calls": 0, "calls": 10, "cost_usd": 0.0012}},
            "timing_s": {"predict": 12.5, "explain": 30.1, "score": 60.2},
            "scorer_counts": {s: {"latents": len(written) - len(spec.failed), "failed": 0, "unparseable": 1} for s in spec.scorers},
            "cache": {"n_tokens": 50000, "hookpoints": {hp: {"d_sae": 256, "nnz": 123456, "alive_fraction": 0.97,
                                                             "mean_l0": 41.5} for hp in spec.hookpoints}}}
