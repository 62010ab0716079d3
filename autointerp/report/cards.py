"""Turn one latent's files into the compact dict the page's script renders as a card.

The page embeds every card once as JSON. To keep 1,000 latents small, each card keeps the
strongest activating and a few non-activating examples plus every example a scorer got wrong, and
says how many it left out. The histogram and the mistake counts are computed here from all
examples, not only the kept ones.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from autointerp.report.load import LatentData, LatentFiles, read_latent

PRIMARY_METRICS = ("balanced_accuracy", "auroc", "correlation", "f1", "accuracy")
"""The headline metric of a scorer: the first of these it reports, else its first metric."""

HIST_BINS = 12
STEERING_SHOWN = 4
"""Prompts per steering scorer whose continuations a card shows (the score files hold them all)."""


def primary_metric(metrics: dict[str, Any]) -> str | None:
    """The headline metric name among a scorer's metrics."""
    numeric = [k for k, v in metrics.items() if _number(v) is not None]
    for name in PRIMARY_METRICS:
        if name in numeric:
            return name
    return numeric[0] if numeric else None


def _number(value: Any) -> float | None:
    """A finite float, or None for anything else (None, NaN, strings, lists)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _round(value: Any) -> float:
    """Four significant digits: plenty for shading and hover text, small in JSON."""
    x = _number(value) or 0.0
    return 0.0 if x == 0 else float(f"{x:.4g}")


def _mistakes(scores: dict[str, dict[str, Any]]) -> tuple[dict[tuple[int, int], dict[str, str]], dict[str, dict]]:
    """Per (row, start): scorer -> 'missed' | 'false' | 'unparsed'; and per-scorer counts."""
    marks: dict[tuple[int, int], dict[str, str]] = {}
    counts: dict[str, dict] = {}
    for scorer, result in scores.items():
        tally = {"missed": 0, "false": 0, "unparsed": 0, "samples": 0}
        binary = _is_binary(result)
        for sample in result.get("samples") or []:
            if not isinstance(sample, dict) or "row" not in sample or "start" not in sample \
                    or sample.get("kind") == "unchanged":  # a steering prompt nobody was asked about
                continue
            tally["samples"] += 1
            prediction, truth = sample.get("prediction"), bool(sample.get("activating"))
            if prediction is None:
                kind = "unparsed" if binary else None
            elif bool(prediction) != truth:
                kind = "missed" if truth else "false"
            else:
                kind = None
            if kind:
                tally[kind] += 1
                marks.setdefault((int(sample["row"]), int(sample["start"])), {}).setdefault(scorer, kind)
        counts[scorer] = tally
    return marks, counts


def _is_binary(result: dict[str, Any]) -> bool:
    """Whether the scorer asks yes/no questions (some sample has a prediction)."""
    return any(isinstance(s, dict) and s.get("prediction") is not None for s in result.get("samples") or [])


def _activations(ex: dict[str, Any]) -> np.ndarray:
    """float64 [W] activations of an example, non-finite values as 0."""
    values = np.asarray(ex.get("activations") or [], dtype=np.float64)
    if np.isfinite(values.sum()):  # one reduction: NaN and infinities make the sum non-finite
        return values
    return np.where(np.isfinite(values), values, 0.0)


def _histogram(arrays: list[np.ndarray]) -> dict[str, Any]:
    """Counts of nonzero activations over all activating examples, in HIST_BINS equal bins."""
    values = np.concatenate(arrays) if arrays else np.zeros(0)
    values = values[values != 0]
    if not len(values):
        return {"lo": 0.0, "hi": 0.0, "counts": []}
    lo, hi = min(0.0, float(values.min())), float(values.max())
    width = (hi - lo) / HIST_BINS or 1.0
    bins = np.minimum(((values - lo) / width).astype(np.int64), HIST_BINS - 1)
    return {"lo": _round(lo), "hi": _round(hi), "counts": np.bincount(bins, minlength=HIST_BINS).tolist()}


def _example(ex: dict[str, Any], marks: dict, acts: np.ndarray | None) -> dict[str, Any]:
    """One example in card form: role, location, token strings, activations, scorer marks."""
    tokens = ex.get("str_tokens") or [f"#{t}" for t in ex.get("tokens") or []]
    row, start = int(ex.get("row", -1)), int(ex.get("start", -1))
    out: dict[str, Any] = {"k": ex.get("role", ""), "r": row, "s": start, "t": list(map(str, tokens))}
    if acts is not None:
        out["a"] = [float(f"{x:.4g}") if x else 0 for x in acts.tolist()]
        out["q"] = ex.get("quantile")
    wrong = marks.get((row, start))
    if wrong:
        out["w"] = wrong
    return out


def _kept(n: int, limit: int, locations: list[tuple[int, int]], marks: dict) -> list[int]:
    """Positions of the first `limit` items plus every later one a scorer got wrong."""
    return [i for i in range(n) if i < limit or locations[i] in marks]


def _location(ex: dict[str, Any]) -> tuple[int, int]:
    """(row, start) of an example: how score samples name it."""
    return int(ex.get("row", -1)), int(ex.get("start", -1))


def _scores(scores: dict[str, dict[str, Any]], counts: dict[str, dict]) -> dict[str, Any]:
    """Scorer -> {m: metrics, p: primary metric, err, unp: unparseable prompts, ...mistake counts}."""
    out = {}
    for scorer, result in scores.items():
        metrics = {k: _round(v) for k, v in (result.get("metrics") or {}).items() if _number(v) is not None}
        out[scorer] = {"m": metrics, "p": primary_metric(metrics), "err": result.get("error"),
                       "unp": result.get("n_unparseable") or 0, **counts.get(scorer, {})}
    return out


def _other_explanations(latent: LatentData, text: str | None) -> dict[str, str]:
    """{control: its explanation} of the results stored as `<scorer>@<control>` with an explanation of
    their own (a baseline explainer's), so the card shows it beside the explainer's."""
    out: dict[str, str] = {}
    for scorer, result in latent.scores.items():
        other = result.get("explanation")
        if "@" in scorer and other and other != text and not result.get("explanation_of"):
            out.setdefault(scorer.split("@", 1)[1], str(other))
    return out


def _steering(scores: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The first prompts of each steering scorer (samples carrying continuations), in card form:
    scorer, prompt, unsteered and steered continuation, strength, whether the judge was right."""
    out = []
    for scorer, result in scores.items():
        shown = [s for s in result.get("samples") or [] if isinstance(s, dict) and isinstance(s.get("texts"), dict)
                 and "steered" in s["texts"]]
        for sample in shown[:STEERING_SHOWN]:
            texts = sample["texts"]
            out.append({"sc": scorer, "p": texts.get("prompt"), "u": texts.get("unsteered"), "s": texts.get("steered"),
                        "a": _number(texts.get("strength")), "ok": sample.get("prediction")})
    return out


def latent_card(latent: LatentData, max_activating: int, max_non_activating: int) -> dict[str, Any]:
    """The compact card of one latent (see the module docstring)."""
    record = latent.record or {}
    activating = list(record.get("train") or []) + list(record.get("test") or []) + list(record.get("select") or [])
    non_activating = (list(record.get("negatives") or []) + list(record.get("explainer_negatives") or [])
                      + list(record.get("select_negatives") or []))
    marks, counts = _mistakes(latent.scores)
    acts = [_activations(e) for e in activating]
    order = sorted(range(len(activating)), key=lambda i: -(acts[i].max() if len(acts[i]) else 0.0))  # strongest first
    keep_act = [order[k] for k in _kept(len(order), max_activating, [_location(activating[i]) for i in order], marks)]
    keep_non = _kept(len(non_activating), max_non_activating, [_location(e) for e in non_activating], marks)
    explanation = latent.explanation or {}
    card = {
        "hp": latent.hookpoint, "i": latent.index,
        "x": explanation.get("text"), "err": latent.error,
        "fr": _number(record.get("firing_rate")), "max": _number(record.get("max_activation")),
        "mean": _number(record.get("mean_activation")), "na": record.get("n_activating"),
        "nnz": record.get("n_nonzero"), "top": record.get("top_output_tokens"),
        "short": record.get("negative_shortfall") or 0, "rec": bool(latent.record),
        "sc": _scores(latent.scores, counts), "h": _histogram(acts), "bx": _other_explanations(latent, explanation.get("text")),
        "act": [_example(activating[i], marks, acts[i]) for i in keep_act],
        "non": [_example(non_activating[i], marks, None) for i in keep_non],
        "nact": len(activating), "nnon": len(non_activating), "st": _steering(latent.scores),
    }
    if latent.selection:
        card["sel"] = _selection(latent.selection)
    return card


def _selection(block: dict[str, Any]) -> dict[str, Any]:
    """The candidates (origin, text, select score), the chosen one and the selection scorer/metric."""
    candidates = [{"o": c.get("origin"), "x": c.get("text"), "v": _number(c.get("select_score")), "err": c.get("error")}
                  for c in block.get("candidates") or []]
    return {"by": f"{block.get('scorer')} {block.get('metric')}", "c": candidates, "ch": block.get("chosen")}


def card_job(files: LatentFiles, max_activating: int, max_non_activating: int) -> tuple[dict[str, Any], list[str]]:
    """Read one latent and build its card (runs in a worker process for large runs).

    A malformed record or score file must not sink the whole report: the card is rebuilt without
    the part that failed, and the failure becomes a note.
    """
    latent, problems = read_latent(files)
    variants = ((latent, None), (replace(latent, scores={}), "its scores"), (replace(latent, record=None), "its record"),
                (replace(latent, record=None, scores={}), "its record and scores"))
    first_error: Exception | None = None
    for attempt, dropped in variants:
        try:
            card = latent_card(attempt, max_activating, max_non_activating)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as err:
            first_error = first_error or err
            continue
        if dropped:
            problems.append(f"{files.hookpoint}/{files.index}: could not show {dropped} ({first_error!r})")
        return card, problems
    raise first_error  # the card fails even without record and scores: a bug, not bad input
