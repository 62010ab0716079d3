"""The run folder: where each result lives, atomic writers, and "is this already done?" checks.

    results/<name>/run_config.json
    results/<name>/latents/                                   the cache
    results/<name>/explanations/<hookpoint>/<latent>.json     explanation (or error) + record
    results/<name>/scores/<scorer>/<hookpoint>/<latent>.json  ScoreResult.to_dict()
    results/<name>/summary.json
    results/<name>/report.html
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autointerp.io import read_json, write_json
from autointerp.records import Explanation, Latent, LatentRecord, ScoreResult

SECRET_KEY = re.compile(r"(api[_-]?key|token$|hf_token|secret|password|authorization)", re.IGNORECASE)
"""Config keys whose values never reach disk (`n_tokens` and friends are counts, not secrets)."""
COUNT_KEYS = {"n_tokens", "max_tokens", "prompt_tokens", "completion_tokens", "top_output_tokens"}


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
    def llm_cache(self) -> Path:
        """The response cache of this run's LLM calls."""
        return self.root / "llm_cache.sqlite"

    def explanation(self, latent: Latent) -> Path:
        """One latent's explanation file."""
        return self.root / "explanations" / latent.hookpoint / f"{latent.index}.json"

    def score(self, scorer: str, latent: Latent) -> Path:
        """One latent's result for one scorer."""
        return self.root / "scores" / scorer / latent.hookpoint / f"{latent.index}.json"

    def explanation_files(self) -> Iterator[Path]:
        """Every explanation file, in hookpoint then latent order."""
        base = self.root / "explanations"
        if base.is_dir():
            for hp in sorted(p for p in base.iterdir() if p.is_dir()):
                yield from sorted(hp.glob("*.json"), key=lambda p: int(p.stem))


def load_explanation(paths: RunPaths, latent: Latent) -> Explanation | None:
    """The stored explanation of a latent, or None when there is none (or it is an error record)."""
    data = read_json(paths.explanation(latent))
    if not data or data.get("explanation") is None:
        return None
    e = data["explanation"]
    return Explanation(
        latent=latent,
        text=e["text"],
        explainer=e["explainer"],
        model=e.get("model", ""),
        raw_response=e.get("raw_response", ""),
        prompt_tokens=e.get("prompt_tokens", 0),
        completion_tokens=e.get("completion_tokens", 0),
    )


def score_done(paths: RunPaths, scorer: str, latent: Latent) -> bool:
    """True when a scorer's result for the latent exists and is not an error record."""
    data = read_json(paths.score(scorer, latent))
    return data is not None and data.get("error") is None


def write_explanation(
    paths: RunPaths, latent: Latent, record: LatentRecord | None, explanation: Explanation | None, error: str | None
) -> None:
    """Write one latent's explanation (or its error) together with its full record."""
    write_json(
        paths.explanation(latent),
        {
            "latent": {"hookpoint": latent.hookpoint, "index": latent.index},
            "explanation": explanation.to_dict() if explanation is not None else None,
            "error": error,
            "record": record.to_dict() if record is not None else None,
        },
    )


def write_score(paths: RunPaths, result: ScoreResult) -> None:
    """Write one scorer's result for one latent."""
    write_json(paths.score(result.scorer, result.latent), result.to_dict())


def redact(value: Any) -> Any:
    """Drop every secret-looking key from nested config dicts (keys come from the environment only)."""
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items() if k in COUNT_KEYS or not SECRET_KEY.search(str(k))}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def write_run_config(paths: RunPaths, config: dict[str, Any]) -> None:
    """Write the full resolved config, secrets removed."""
    write_json(paths.run_config, redact(config))
