"""Read a run folder (`results/<name>/`) into plain dicts for the report, tolerating gaps.

Nothing here is strict: a missing summary, a latent whose explanation failed, a scorer that never
wrote a file for some latent, or a file that is not valid JSON all leave the rest of the report
intact; unreadable files are listed in `RunData.problems` so the page can say what it skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autointerp.run_folder import RunPaths

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
    selection: dict[str, Any] | None = None
    """The explanation file's `selection` block (candidates, their select scores, the choice), when chosen among several."""

    @property
    def key(self) -> LatentKey:
        """(hookpoint, index)."""
        return (self.hookpoint, self.index)


@dataclass
class LatentFiles:
    """Where one latent's files are; nothing is read until `read_latent`."""

    hookpoint: str
    index: int
    explanation: Path | None = None
    scores: dict[str, Path] = field(default_factory=dict)
    """Scorer name -> its result file."""

    @property
    def key(self) -> LatentKey:
        """(hookpoint, index)."""
        return (self.hookpoint, self.index)


@dataclass
class RunData:
    """A run folder: summary and config read, latents listed (read one at a time, on demand)."""

    run_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)
    """`summary.json`, or {} when it is missing."""
    run_config: dict[str, Any] = field(default_factory=dict)
    files: list[LatentFiles] = field(default_factory=list)
    """One entry per latent with any file, sorted by (hookpoint, index)."""
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
        for files in self.files:
            names.extend(files.scores)
        return list(dict.fromkeys(names))

    def latents(self) -> Iterator[LatentData]:
        """Read the latents one at a time (records are large: never all held at once)."""
        for files in self.files:
            latent, problems = read_latent(files)
            self.problems.extend(problems)
            yield latent


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


def read_latent(files: LatentFiles) -> tuple[LatentData, list[str]]:
    """Read one latent's explanation file and score files; unreadable files become notes."""
    problems: list[str] = []
    latent = LatentData(files.hookpoint, files.index)
    data = _read_json(files.explanation, problems) if files.explanation else None
    if isinstance(data, dict):
        explanation, record = data.get("explanation"), data.get("record")
        latent.explanation = explanation if isinstance(explanation, dict) else None
        latent.error = data.get("error")
        latent.record = record if isinstance(record, dict) else None
        latent.selection = data.get("selection") if isinstance(data.get("selection"), dict) else None
    for scorer, path in files.scores.items():
        result = _read_json(path, problems)
        if isinstance(result, dict):
            latent.scores[scorer] = result
    return latent, problems


def list_latent_files(run_dir: Path) -> list[LatentFiles]:
    """Every latent with an explanation file or a score file, sorted by (hookpoint, index)."""
    found: dict[LatentKey, LatentFiles] = {}
    paths = RunPaths(run_dir)
    for hookpoint, index, path in _latent_files(paths.explanations):
        found.setdefault((hookpoint, index), LatentFiles(hookpoint, index)).explanation = path
    scores_dir = paths.scores
    for scorer_dir in sorted(p for p in scores_dir.iterdir() if p.is_dir()) if scores_dir.is_dir() else []:
        for hookpoint, index, path in _latent_files(scorer_dir):
            found.setdefault((hookpoint, index), LatentFiles(hookpoint, index)).scores[scorer_dir.name] = path
    return [found[k] for k in sorted(found)]


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder's summary and config and list its latents; raises only when the folder is missing."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist (check --name and --results_dir)")
    problems: list[str] = []
    summary = _read_json(RunPaths(run_dir).summary, problems)
    run_config = _read_json(RunPaths(run_dir).run_config, problems)
    return RunData(
        run_dir=run_dir,
        summary=summary if isinstance(summary, dict) else {},
        run_config=run_config if isinstance(run_config, dict) else {},
        files=list_latent_files(run_dir),
        problems=problems,
    )
