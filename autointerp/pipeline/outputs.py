"""Writing and reading a run's results (explanations, scores, run_config), and "is this already done?" checks.

Where each file lives is `autointerp.run_folder.RunPaths` (re-exported here).
"""

from __future__ import annotations

import re
from typing import Any

from autointerp.io import read_json, write_json
from autointerp.records import Explanation, Latent, LatentRecord, ScoreResult
from autointerp.run_folder import RunPaths  # noqa: F401  (re-exported: the stage's modules take it from here)

SECRET_KEY = re.compile(r"(api[_-]?key|token$|hf_token|secret|password|authorization)", re.IGNORECASE)
"""Config keys whose values never reach disk (`n_tokens` and friends are counts, not secrets)."""
COUNT_KEYS = {"n_tokens", "max_tokens", "prompt_tokens", "completion_tokens", "top_output_tokens"}


def load_explanation(paths: RunPaths, latent: Latent, fingerprint: str | None = None) -> Explanation | None:
    """The stored explanation of a latent, or None when there is none, it is an error record, or it
    was made under another protocol (its fingerprint differs from `fingerprint`, when given)."""
    data = read_json(paths.explanation(latent))
    if not data or data.get("explanation") is None:
        return None
    if fingerprint is not None and data.get("fingerprint") != fingerprint:
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


def score_done(paths: RunPaths, scorer: str, latent: Latent, fingerprint: str | None = None) -> bool:
    """True when a scorer's result for the latent exists, is not a failure (a `skipped:` record is
    final: the same protocol skips again) and (when `fingerprint` is given) was made under the
    current protocol."""
    data = read_json(paths.score(scorer, latent))
    error = None if data is None else data.get("error")
    if data is None or (error is not None and not str(error).lower().startswith("skipped")):
        return False
    return fingerprint is None or data.get("fingerprint") == fingerprint


def write_explanation(
    paths: RunPaths, latent: Latent, record: LatentRecord | None, explanation: Explanation | None, error: str | None,
    fingerprint: str | None = None, selection: dict[str, Any] | None = None,
) -> None:
    """Write one latent's explanation (or its error) together with its full record, the fingerprint
    of the protocol that made it and, when it was chosen among candidates, the `selection` block."""
    data = {
        "latent": {"hookpoint": latent.hookpoint, "index": latent.index},
        "explanation": explanation.to_dict() if explanation is not None else None,
        "error": error,
        "fingerprint": fingerprint,
        "record": record.to_dict() if record is not None else None,
    }
    if selection is not None:
        data["selection"] = selection
    write_json(paths.explanation(latent), data)


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
