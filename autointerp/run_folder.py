"""`RunPaths`: the one place that builds the paths of a run folder.

    <results_dir>/<name>/run_config.json                           the resolved config
    <results_dir>/<name>/latents/                                   the cache
    <results_dir>/<name>/explanations/<hookpoint>/<latent>.json     explanation (or error) + record
    <results_dir>/<name>/scores/<scorer>/<hookpoint>/<latent>.json  ScoreResult.to_dict()
    <results_dir>/<name>/summary.json, report.html, plots/, mlflow_run.json, llm_cache.sqlite (the client's),
                         tokenizer/, examples_cache/, specialization.{json,csv}
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
