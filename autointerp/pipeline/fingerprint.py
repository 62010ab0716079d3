"""Fingerprints of the protocol behind each explanation and score, so a resumed run never mixes two.

An explanation's fingerprint covers the cache it was built from (the manifest: model, sparse model,
hookpoints, dataset, rows, ctx_len), the examples settings (sampling, seed, negatives) and the
explainer (its class, settings, prompt text and LLM). A score's covers its explanation's, the
scorer's settings and prompt text, and whether it is the shuffled control. A stored file whose
fingerprint differs from the current one is redone, and the summary leaves it out.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields, is_dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autointerp.latents.manifest import Manifest

SKIPPED = {"tokenizer", "model", "client"}
"""Attributes that are heavy objects, not settings (the tokenizer is covered by the cache's model)."""


UNSET_IS_ABSENT = {"n_examples_select": 0, "n_non_activating_select": None}
"""Examples settings left out of the fingerprint at these defaults (they came after runs already on disk)."""


def settings_of(obj: Any) -> dict[str, Any]:
    """The plain-data public attributes of a component (its settings), with its class name."""
    out: dict[str, Any] = {"class": f"{type(obj).__module__}.{type(obj).__qualname__}"}
    for key, value in sorted(vars(obj).items()):
        if not key.startswith("_") and key not in SKIPPED and _plain(value):
            out[key] = value
    return out


def _plain(value: Any) -> bool:
    """True for JSON data made of str, numbers, bools and None."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def digest(data: Any) -> str:
    """A short stable hash of JSON-able data."""
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _examples_settings(examples: Any) -> dict[str, Any]:
    """The examples settings as plain data: components chosen by type (sampler, source) by their settings."""
    if not is_dataclass(examples):
        return settings_of(examples)
    out = {}
    for item in fields(examples):
        value = getattr(examples, item.name)
        if item.name in UNSET_IS_ABSENT and value == UNSET_IS_ABSENT[item.name]:
            continue  # a setting added later, at its default: earlier runs' fingerprints still match
        out[item.name] = value if _plain(value) else settings_of(value)
    return out


def cache_identity(manifest: Manifest | None) -> dict[str, Any]:
    """What in a cache's manifest decides its contents (all None without one)."""
    keys = ("model", "sparse_model", "hookpoints", "ctx_len", "n_rows", "n_tokens", "dataset", "token_files")
    out = {k: getattr(manifest, k, None) for k in keys}
    out["nnz"] = {hp: entry.nnz for hp, entry in (manifest.per_hookpoint if manifest else {}).items()}
    return out


class Protocol:
    """The current run's fingerprints: one for explanations, one per scorer (and its control)."""

    def __init__(self, manifest: Manifest | None, examples: Any, explainer: Any, scorers: dict[str, Any],
                 llm: str, selection: Any = None) -> None:
        """manifest: the cache's; examples: the ExamplesConfig; llm: the model that explains and judges;
        selection: the SelectionConfig (covered, with its scorer's settings, only when it is active)."""
        examples_settings = _examples_settings(examples)
        made_by = {"cache": cache_identity(manifest), "examples": examples_settings,
                   "explainer": settings_of(explainer), "llm": llm}
        if selection is not None and selection.active:
            name = selection.scorer_name(list(scorers), {n: s.needs_explanation for n, s in scorers.items()})
            made_by["selection"] = {**selection.to_dict(), "scorer_settings": settings_of(scorers.get(name))}
        self.explanation = digest(made_by)
        self._scorers = {name: settings_of(scorer) for name, scorer in scorers.items()}
        self._llm = llm

    def score(self, scorer: str, shuffled: bool = False) -> str:
        """The fingerprint of a score of `scorer` (of its shuffled control when `shuffled`)."""
        return digest({"explanation": self.explanation, "scorer": self._scorers.get(scorer), "name": scorer,
                       "llm": self._llm, "shuffled": shuffled})
