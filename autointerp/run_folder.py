"""The run folder: `RunPaths`, the one place that builds its paths, and `RunSummary`, its typed `summary.json`.

    <results_dir>/<name>/run_config.json                           the resolved config
    <results_dir>/<name>/latents/                                   the cache
    <results_dir>/<name>/explanations/<hookpoint>/<latent>.json     explanation (or error) + record
    <results_dir>/<name>/scores/<scorer>/<hookpoint>/<latent>.json  ScoreResult.to_dict()
    <results_dir>/<name>/summary.json, report.html, plots/, mlflow_run.json, llm_cache.sqlite (the client's),
                         tokenizer/, examples_cache/, specialization.{json,csv}
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autointerp.records import Latent


class RunPaths:
    """Paths inside one run folder: the only place that builds them."""

    def __init__(self, run_dir: str | Path):
        self.root = Path(run_dir)

    @classmethod
    def for_run(cls, results_dir: str | Path, name: str) -> RunPaths:
        """`<results_dir>/<name>`; ValueError naming `name` unless it is a plain folder name."""
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise ValueError(f"name: {name!r} must be a plain folder name (no '/')")
        return cls(Path(results_dir) / name)

    def sibling(self, name_or_path: str | Path) -> RunPaths:
        """Another run: by name, beside this one under the same results folder, or by absolute path."""
        path = Path(name_or_path)
        return RunPaths(path if path.is_absolute() else self.root.parent / path)

    @property
    def name(self) -> str:
        """The run's name (its folder's name)."""
        return self.root.name

    @property
    def latents(self) -> Path:
        """The latent cache."""
        return self.root / "latents"

    @property
    def run_config(self) -> Path:
        """The full resolved config."""
        return self.root / "run_config.json"

    @property
    def summary(self) -> Path:
        """Metrics, counts, usage and timing."""
        return self.root / "summary.json"

    @property
    def mlflow_run(self) -> Path:
        """The MLflow run id of this run, so every stage logs into one MLflow run."""
        return self.root / "mlflow_run.json"

    @property
    def report(self) -> Path:
        """The self-contained HTML report."""
        return self.root / "report.html"

    @property
    def plots(self) -> Path:
        """The report's SVG plots."""
        return self.root / "plots"

    @property
    def tokenizer(self) -> Path:
        """The subject model's tokenizer, saved once per run."""
        return self.root / "tokenizer"

    @property
    def examples_cache(self) -> Path:
        """Per-run caches of the examples stage (FAISS embeddings, neighbour tables)."""
        return self.root / "examples_cache"

    @property
    def explanations(self) -> Path:
        """`explanations/<hookpoint>/<latent>.json`."""
        return self.root / "explanations"

    @property
    def scores(self) -> Path:
        """`scores/<scorer>/<hookpoint>/<latent>.json`."""
        return self.root / "scores"

    def specialization(self, suffix: str) -> Path:
        """`specialization.json` or `specialization.csv`."""
        return self.root / f"specialization.{suffix}"

    def explanation(self, latent: Latent) -> Path:
        """One latent's explanation file."""
        return self.explanations / latent.hookpoint / f"{latent.index}.json"

    def score(self, scorer: str, latent: Latent) -> Path:
        """One latent's result for one scorer."""
        return self.scores / scorer / latent.hookpoint / f"{latent.index}.json"

    def explanation_files(self) -> Iterator[Path]:
        """Every explanation file, in hookpoint then latent order."""
        base = self.explanations
        if base.is_dir():
            for hp in sorted(p for p in base.iterdir() if p.is_dir()):
                yield from sorted(hp.glob("*.json"), key=lambda p: int(p.stem))


OPTIONAL_SUMMARY_FIELDS = ("server_died", "specialization", "explainer_model_sha256", "explainer_model_requested",
                           "explainer_models_answered", "llm_server", "baseline_explainer", "judge_agreement",
                           "calibration")
"""`RunSummary` fields left out of summary.json when they are None."""


@dataclass
class RunSummary:
    """`summary.json`: what a run produced, built once at the end of each invocation (see the README's outputs)."""

    name: str
    model: str | None
    sparse_model: str | None
    explainer_model: str | None
    explainer: str | None
    scorers: list[str]
    hookpoints: list[str]
    per_hookpoint: dict[str, dict[str, Any]]
    """{hookpoint: {scorer: {metric: {mean, ci_low, ci_high, chance, n, ...}}}}"""
    shuffled_baseline: dict[str, dict[str, Any]]
    """{hookpoint: {scorer: {metric: lift over the shuffled-explanation control}}} where it ran."""
    counts: dict[str, int]
    """latents, explained, failed, skipped, unparseable"""
    scorer_counts: dict[str, dict[str, int]]
    skipped: dict[str, list[int]]
    failed: dict[str, list[int]]
    high_quality: dict[str, dict[str, int]]
    usage: dict[str, dict[str, Any]]
    """Tokens, calls and cost per stage, summed over every invocation of the run."""
    timing_s: dict[str, float]
    """Seconds per stage, summed over every invocation of the run."""
    cache: dict[str, Any]
    skip_reasons: dict[str, dict[str, str]] = field(default_factory=dict)
    usage_total: dict[str, Any] = field(default_factory=dict)
    invocation: dict[str, Any] = field(default_factory=dict)
    """This invocation alone: attempted, resumed, not_started, budget_exhausted, timing_s, usage_total."""
    server_died: str | None = None
    """What the served model said when it died mid-run (absent when it did not)."""
    specialization: dict[str, Any] | None = None
    """The comparison with `reference_run` (absent without one)."""
    explainer_model_sha256: str | None = None
    """SHA-256 of the GGUF the stage served (absent for a URL)."""
    explainer_model_requested: str | None = None
    """The name requested, when the server's replies named another model (absent otherwise)."""
    explainer_models_answered: dict[str, int] | None = None
    """{model: calls} when replies named more than one model (absent otherwise)."""
    llm_server: dict[str, float] | None = None
    """A managed server's own account of this invocation's work: prompt tokens evaluated, seconds of
    prefill and generation (absent for a URL)."""
    baseline_explainer: dict[str, Any] | None = None
    """{name, lift: {hookpoint: {scorer: {metric: {baseline, lift, lift_ci_low, lift_ci_high, n}}}}}:
    the explainer's lift over the baseline explainer, paired per latent (absent without one)."""
    judge_agreement: dict[str, Any] | None = None
    """{model, per_hookpoint: {hookpoint: {scorer: {metric, kappa, pearson, spearman (each value,
    ci_low, ci_high), n_latents, n_verdicts, disagree_most}}}} (absent without a second judge)."""
    calibration: dict[str, Any] | None = None
    """The judge on known-answer latents, beside the real latents' scores, and the verdict (absent without
    `interpret.calibration`); never part of `per_hookpoint` or `counts`."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: optional parts left out when absent, NaN and infinities as null."""
        out = asdict(self)
        for key in OPTIONAL_SUMMARY_FIELDS:
            if out[key] is None:
                del out[key]
        return _finite(out)


def _finite(value: Any) -> Any:
    """Replace NaN and infinities (not valid JSON) with None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
