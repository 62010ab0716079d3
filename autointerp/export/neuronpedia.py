"""Rows of Neuronpedia's tables from one finished run, named field for field as their Prisma schema names them.

Followed: github.com/hijohnnylin/neuronpedia at FORMAT_COMMIT: `apps/webapp/prisma/schema.prisma`
(models Neuron, Activation, Explanation, ExplanationScore, Model, Source, SourceSet, SourceRelease and
the explanation/score type tables), the exporter `utils/neuronpedia-utils/neuronpedia_utils/export-data.py`
and the importer `apps/webapp/app/api/admin/import/route.ts` + `lib/db/import.ts`. The importer
inserts a batch file's rows with the columns named by its *first* line, so every row of a file has
the same keys; a column we cannot fill for any latent is left out (the database default applies),
one we fill for some latents only is null for the others (only nullable columns).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from autointerp.report.cards import PRIMARY_METRICS
from autointerp.report.load import LatentData

FORMAT_COMMIT = "ebb8426fc550ad5d1f76d52c271a624af3c08a57"
"""The Neuronpedia commit (2026-08-20; schema.prisma last changed 2026-07-06) whose format this follows."""

DEFAULT_CREATOR_ID = "clkht01d40000jv08hvalcvly"
"""The bot user every Neuronpedia instance seeds (prisma/seed.ts) and its exports name as creator and author."""

MISSING_LOGIT_VALUE = -10000
"""Neuronpedia's web app shows this logit value as N/A (feature-stats.tsx): we know the promoted tokens, not their logits."""

VISIBILITY = "PUBLIC"
"""As Neuronpedia's own converters write for an imported release."""

SCORE_TYPE_PREFIX = "autointerp_"
"""Our score and explanation type names (`autointerp_detection`), kept apart from Neuronpedia's own (`eleuther_fuzz`)."""


@dataclass(frozen=True)
class Names:
    """The Neuronpedia names of one export."""

    model_id: str
    release: str
    creator_name: str
    sources: dict[str, tuple[str, str]]
    """{hookpoint: (source id, source set name)}."""


def cuid_like(*parts: Any) -> str:
    """A stable 25-character id starting with `c`, as Neuronpedia's cuids do: re-exporting gives the same ids."""
    return "c" + hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:24]


def short_model_name(model: str | None) -> str | None:
    """An LLM's name as Neuronpedia's batch-autointerp writes `explanationModelName`: its last `/` part."""
    return model.rstrip("/").split("/")[-1] or None if model else None


def model_row(names: Names, model: str | None, model_owner: str) -> dict[str, Any]:
    """model.jsonl: `layers` and `neuronsPerLayer` are required and the run does not know them: 0, as Neuronpedia's converter writes."""
    display = (model or names.model_id).split(":")[-1].split("/")[-1]
    return {"id": names.model_id, "displayName": display, "displayNameShort": display, "creatorId": DEFAULT_CREATOR_ID,
            "owner": model_owner, "layers": 0, "neuronsPerLayer": 0, "visibility": VISIBILITY,
            "instruct": names.model_id.endswith(("-instruct", "-it"))}


def release_row(names: Names, description: str, short: str) -> dict[str, Any]:
    """release.jsonl."""
    return {"name": names.release, "description": description, "descriptionShort": short,
            "creatorName": names.creator_name, "creatorId": DEFAULT_CREATOR_ID, "urls": [], "visibility": VISIBILITY}


def sourceset_row(names: Names, hookpoint: str, description: str) -> dict[str, Any]:
    """sourceset.jsonl."""
    return {"modelId": names.model_id, "name": names.sources[hookpoint][1], "description": description,
            "creatorName": names.creator_name, "creatorId": DEFAULT_CREATOR_ID, "urls": [], "releaseName": names.release,
            "visibility": VISIBILITY, "hasDashboards": True}


def source_row(names: Names, hookpoint: str, manifest: dict[str, Any], dataset: str | None, notes: str) -> dict[str, Any]:
    """source.jsonl: prompts are the cache's rows, each `ctx_len` tokens long."""
    source, set_name = names.sources[hookpoint]
    return {"id": source, "modelId": names.model_id, "setName": set_name, "creatorId": DEFAULT_CREATOR_ID,
            "hasDashboards": True, "visibility": VISIBILITY, "num_prompts": manifest.get("n_rows"),
            "num_tokens_in_prompt": manifest.get("ctx_len"), "dataset": dataset, "notes": notes}


def feature_row(names: Names, latent: LatentData) -> dict[str, Any]:
    """One Neuron: density, strongest activation and the logit-lens tokens from the latent's record."""
    record = latent.record or {}
    tokens = [str(t) for t in record.get("top_output_tokens") or []]
    source, set_name = names.sources[latent.hookpoint]
    return {"modelId": names.model_id, "layer": source, "index": str(latent.index), "sourceSetName": set_name,
            "creatorId": DEFAULT_CREATOR_ID, "maxActApprox": float(record.get("max_activation") or 0.0),
            "frac_nonzero": float(record.get("firing_rate") or 0.0),
            "pos_str": tokens, "pos_values": [MISSING_LOGIT_VALUE] * len(tokens)}


def activation_rows(names: Names, latent: LatentData) -> list[dict[str, Any]]:
    """One Activation per activating example (train and test windows), strongest first."""
    record = latent.record or {}
    source = names.sources[latent.hookpoint][0]
    seen, rows = set(), []
    for example in [*record.get("train", []), *record.get("test", [])]:
        where = (example["row"], example["start"])
        values = [float(v) for v in example.get("activations") or []]
        tokens = example.get("str_tokens")
        if where in seen or not values or tokens is None or len(tokens) != len(values):
            continue  # a window shown twice, or one without decoded tokens (nothing to show)
        seen.add(where)
        top = max(range(len(values)), key=values.__getitem__)
        rows.append({"id": cuid_like(names.release, names.model_id, source, latent.index, *where),
                     "modelId": names.model_id, "layer": source, "index": str(latent.index),
                     "creatorId": DEFAULT_CREATOR_ID, "tokens": [str(t) for t in tokens], "values": values,
                     "maxValue": values[top], "maxValueTokenIndex": top, "minValue": min(values),
                     "dataIndex": str(example["row"])})
    return sorted(rows, key=lambda r: -r["maxValue"])


def explanation_row(names: Names, latent: LatentData, fallback_model: str | None) -> dict[str, Any] | None:
    """The latent's Explanation, or None when explaining failed."""
    explanation = latent.explanation
    if not explanation or not explanation.get("text"):
        return None
    source = names.sources[latent.hookpoint][0]
    return {"id": explanation_id(names, latent.hookpoint, latent.index, explanation["text"]),
            "modelId": names.model_id, "layer": source, "index": str(latent.index), "description": explanation["text"],
            "authorId": DEFAULT_CREATOR_ID, "typeName": explanation_type(explanation.get("explainer")),
            "explanationModelName": short_model_name(explanation.get("model") or fallback_model)}


def explanation_id(names: Names, hookpoint: str, index: int, text: str) -> str:
    """The id of one exported explanation."""
    return cuid_like(names.release, names.model_id, names.sources[hookpoint][0], index, "explanation", text)


def explanation_type(explainer: str | None) -> str:
    """Our explainer's ExplanationType name: `autointerp_default`."""
    return SCORE_TYPE_PREFIX + (explainer or "default")


def headline(metrics: dict[str, Any]) -> str | None:
    """The scorer's headline metric (as the report and MLflow choose): the first of PRIMARY_METRICS it reports."""
    return next((m for m in PRIMARY_METRICS if m in metrics), None)


def score_rows(latent: LatentData, explanation: dict[str, Any], score_models: dict[str, str | None]) -> list[dict[str, Any]]:
    """One ExplanationScore per scorer that scored this very explanation; value = its headline metric."""
    rows = []
    for scorer, result in sorted(latent.scores.items()):
        if "@" in scorer or result.get("error") or result.get("explanation_of"):
            continue  # the shuffled control scores another latent's explanation; an error has no value
        if result.get("explanation") != explanation["description"]:
            continue  # a score left from an earlier explanation of this latent
        metrics = result.get("metrics") or {}
        metric = headline(metrics)
        value = metrics.get(metric) if metric else None
        judge = short_model_name(score_models.get(scorer))
        if not isinstance(value, (int, float)) or not math.isfinite(value) or judge is None:
            continue  # no number, or no model on record to file it under
        details = {"metric": metric, "metrics": finite(metrics), "n_unparseable": result.get("n_unparseable"),
                   "n_samples": len(result.get("samples") or [])}
        rows.append({"id": cuid_like(explanation["id"], "score", scorer), "initiatedByUserId": DEFAULT_CREATOR_ID,
                     "value": float(value), "explanationId": explanation["id"],
                     "explanationScoreTypeName": SCORE_TYPE_PREFIX + scorer,
                     "explanationScoreModelName": judge,
                     "jsonDetails": json.dumps(details, sort_keys=True)})
    return rows


def finite(value: Any) -> Any:
    """NaN and infinities (not JSON) become None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value
