"""Read a run folder (`results/<name>/`) into plain dicts for the report, tolerating gaps.

Nothing here is strict: a missing summary, a latent whose explanation failed, a scorer that never
wrote a file for some latent, or a file that is not valid JSON all leave the rest of the report
intact; unreadable files are listed in `RunData.problems` so the page can say what it skipped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LatentKey = tuple[str, int]
"""(hookpoint, latent index)."""


@dataclass
class LatentData:
    """Everything the run wrote about one latent."""

    hookpoint: str
    index: int
    explanation: dict[str, Any] | None = None
    """`Explanation.to_dict()`, or None when explaining failed or never ran."""
    error: str | None = None
    """Why explaining failed, when it did."""
    record: dict[str, Any] | None = None
    """`LatentRecord.to_dict()`, or None when the explanation file lacks it."""
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Scorer name -> `ScoreResult.to_dict()`."""

    @property
    def key(self) -> LatentKey:
        """(hookpoint, index)."""
        return (self.hookpoint, self.index)


@dataclass
class RunData:
    """A run folder read into memory."""

    run_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)
    """`summary.json`, or {} when it is missing."""
    run_config: dict[str, Any] = field(default_factory=dict)
    latents: list[LatentData] = field(default_factory=list)
    """Sorted by (hookpoint, index)."""
    problems: list[str] = field(default_factory=list)
    """Human-readable notes about files that were missing or unreadable."""

    @property
    def name(self) -> str:
        """The run's name: from the summary, else the folder name."""
        return str(self.summary.get("name") or self.run_dir.name)

    @property
    def scorers(self) -> list[str]:
        """Scorers named by the summary, then any others found on disk, in first-seen order."""
        names = [str(s) for s in self.summary.get("scorers") or []]
        for latent in self.latents:
            names.extend(s for s in latent.scores if s not in names)
        return list(dict.fromkeys(names))


def parse_json(data: bytes) -> Any:
    """Parse JSON with orjson when installed (several times faster on example-heavy records), else json."""
    try:
        import orjson
    except ImportError:
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # orjson rejects NaN and Infinity, which `json.dump` may have written
        return json.loads(data)


def _read_json(path: Path, problems: list[str]) -> Any:
    """Parse one JSON file; a missing or broken file becomes a note and None."""
    try:
        return parse_json(path.read_bytes())
    except FileNotFoundError:
        problems.append(f"{path.name} is missing")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        problems.append(f"{path} could not be read: {err}")
        logger.warning("report: skipping unreadable %s: %s", path, err)
    return None


def _latent_files(root: Path) -> list[tuple[str, int, Path]]:
    """`<root>/<hookpoint>/<index>.json` files as (hookpoint, index, path); other names are ignored."""
    found = []
    if not root.is_dir():
        return found
    for hp_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in hp_dir.glob("*.json"):
            if path.stem.isdigit():
                found.append((hp_dir.name, int(path.stem), path))
    return found


def _latent(latents: dict[LatentKey, LatentData], hookpoint: str, index: int) -> LatentData:
    """The entry for a latent, created on first sight."""
    key = (hookpoint, index)
    if key not in latents:
        latents[key] = LatentData(hookpoint, index)
    return latents[key]


def _load_explanations(run_dir: Path, latents: dict[LatentKey, LatentData], problems: list[str]) -> None:
    """Fill explanations, errors and records from `explanations/<hookpoint>/<latent>.json`."""
    for hookpoint, index, path in _latent_files(run_dir / "explanations"):
        data = _read_json(path, problems)
        if not isinstance(data, dict):
            continue
        latent = _latent(latents, hookpoint, index)
        explanation = data.get("explanation")
        latent.explanation = explanation if isinstance(explanation, dict) else None
        latent.error = data.get("error")
        record = data.get("record")
        latent.record = record if isinstance(record, dict) else None


def _load_scores(run_dir: Path, latents: dict[LatentKey, LatentData], problems: list[str]) -> None:
    """Fill per-scorer results from `scores/<scorer>/<hookpoint>/<latent>.json`."""
    scores_dir = run_dir / "scores"
    if not scores_dir.is_dir():
        return
    for scorer_dir in sorted(p for p in scores_dir.iterdir() if p.is_dir()):
        for hookpoint, index, path in _latent_files(scorer_dir):
            data = _read_json(path, problems)
            if isinstance(data, dict):
                _latent(latents, hookpoint, index).scores[scorer_dir.name] = data


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder; raises only when the folder itself does not exist."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist (check --name and --results_dir)")
    problems: list[str] = []
    summary = _read_json(run_dir / "summary.json", problems)
    run_config = _read_json(run_dir / "run_config.json", problems)
    latents: dict[LatentKey, LatentData] = {}
    _load_explanations(run_dir, latents, problems)
    _load_scores(run_dir, latents, problems)
    return RunData(
        run_dir=run_dir,
        summary=summary if isinstance(summary, dict) else {},
        run_config=run_config if isinstance(run_config, dict) else {},
        latents=[latents[k] for k in sorted(latents)],
        problems=problems,
    )
