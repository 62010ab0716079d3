"""The rows of Neuronpedia's `config/` tables that our explanations and scores point to.

Neuronpedia keeps explanation types, explainer models, score types and score models in four small
tables (`v1/config/*.jsonl` of its public exports); an Explanation names its type and model, an
ExplanationScore its type and model, by foreign key. An instance that lacks our names needs these
rows before the explanations and scores can go in.
"""

from __future__ import annotations

import json
from typing import Any

from autointerp.export.neuronpedia import DEFAULT_CREATOR_ID, SCORE_TYPE_PREFIX, explanation_type, short_model_name

LOCAL_MODEL_SCORERS = {"embedding": ("model_path", "all-MiniLM-L6-v2"), "surprisal": ("model_name", "SmolLM2-135M-Instruct")}
"""Scorers that run their own local model, not the LLM client: (the setting naming it, its default)."""

CREATOR = "autointerp"


def scorer_settings(run_config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{scorer name: its config entry (class_path, init_args)} from the run's config (`DetectionScorer` writes under `detection`)."""
    out = {}
    for entry in (run_config.get("interpret") or {}).get("scorers") or []:
        if not isinstance(entry, dict):
            continue
        args = entry.get("init_args") or {}
        cls = str(entry.get("class_path", "")).rsplit(".", 1)[-1]
        out[str(args.get("name") or cls.removesuffix("Scorer").lower())] = entry
    return out


def score_models(scorers: list[str], llm: str | None, run_config: dict[str, Any]) -> dict[str, str | None]:
    """{scorer: the model that produced its values}: the run's LLM, or a local-model scorer's own model."""
    settings = scorer_settings(run_config)
    out = {}
    for scorer in scorers:
        base = scorer.split("@")[0]
        if base in LOCAL_MODEL_SCORERS:
            key, default = LOCAL_MODEL_SCORERS[base]
            out[scorer] = str(((settings.get(base) or {}).get("init_args") or {}).get(key) or default)
        else:
            out[scorer] = llm
    return out


def explanation_type_row(explainer: str, run_config: dict[str, Any]) -> dict[str, Any]:
    """ExplanationType: our explainer, with its settings from the run's config."""
    settings = (run_config.get("interpret") or {}).get("explainer")
    return {"name": explanation_type(explainer), "displayName": f"autointerp {explainer} explainer",
            "description": f"Explanations written by autointerp's {explainer} explainer from top-activating examples.",
            "creatorName": CREATOR, "creatorId": DEFAULT_CREATOR_ID,
            "settings": json.dumps(settings, sort_keys=True) if settings is not None else None}


def model_type_row(model: str, what: str) -> dict[str, Any]:
    """ExplanationModelType or ExplanationScoreModel (the same fields): who made the model is not on record (empty)."""
    name = short_model_name(model) or model
    return {"name": name, "displayName": name, "description": f"{what} of an autointerp run: {model}", "creatorName": ""}


def score_type_row(scorer: str, metrics: set[str], run_config: dict[str, Any]) -> dict[str, Any]:
    """ExplanationScoreType: one of our scorers, the headline metric its values are."""
    settings = scorer_settings(run_config).get(scorer)
    metric = ", ".join(sorted(metrics)) or "none"
    return {"name": SCORE_TYPE_PREFIX + scorer, "displayName": f"autointerp {scorer}",
            "description": f"autointerp's {scorer} scorer on held-out examples of the latent.",
            "scoreDescription": f"{metric} (chance and the other metrics in each score's jsonDetails)",
            "creatorName": CREATOR, "creatorId": DEFAULT_CREATOR_ID,
            "settings": json.dumps(settings, sort_keys=True) if settings is not None else None}
