"""Turn one latent's files into the compact dict the page's script renders as a card.

The page embeds every card once as JSON. To keep 1,000 latents small, token strings go into one
shared table (`Strings`) and cards carry indices; each card keeps the strongest activating and a
few non-activating examples plus every example a scorer got wrong, and says how many it left out.
The histogram and the mistake counts are computed here from all examples, not only the kept ones.
"""

from __future__ import annotations

import math
from typing import Any

from autointerp.report.load import LatentData

PRIMARY_METRICS = ("balanced_accuracy", "auroc", "correlation", "f1", "accuracy")
"""The headline metric of a scorer: the first of these it reports, else its first metric."""

HIST_BINS = 12


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


class Strings:
    """A table of distinct strings; cards refer to token strings by position."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def id(self, text: str) -> int:
        """The position of `text`, added on first use."""
        found = self._index.get(text)
        if found is None:
            found = self._index[text] = len(self.items)
            self.items.append(text)
        return found


def _mistakes(scores: dict[str, dict[str, Any]]) -> tuple[dict[tuple[int, int], dict[str, str]], dict[str, dict]]:
    """Per (row, start): scorer -> 'missed' | 'false' | 'unparsed'; and per-scorer counts."""
    marks: dict[tuple[int, int], dict[str, str]] = {}
    counts: dict[str, dict] = {}
    for scorer, result in scores.items():
        tally = {"missed": 0, "false": 0, "unparsed": 0, "samples": 0}
        binary = _is_binary(result)
        for sample in result.get("samples") or []:
            if not isinstance(sample, dict) or "row" not in sample or "start" not in sample:
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


def _histogram(examples: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts of nonzero activations over all activating examples, in HIST_BINS equal bins."""
    values = [x for ex in examples for x in (_number(a) for a in ex.get("activations") or []) if x]
    if not values:
        return {"lo": 0.0, "hi": 0.0, "counts": []}
    lo, hi = min(0.0, min(values)), max(values)
    width = (hi - lo) / HIST_BINS or 1.0
    counts = [0] * HIST_BINS
    for x in values:
        counts[min(int((x - lo) / width), HIST_BINS - 1)] += 1
    return {"lo": _round(lo), "hi": _round(hi), "counts": counts}


def _example(ex: dict[str, Any], strings: Strings, marks: dict, with_acts: bool) -> dict[str, Any]:
    """One example in card form: role, location, token string ids, activations, scorer marks."""
    tokens = ex.get("str_tokens") or [f"#{t}" for t in ex.get("tokens") or []]
    row, start = int(ex.get("row", -1)), int(ex.get("start", -1))
    out: dict[str, Any] = {"k": ex.get("role", ""), "r": row, "s": start, "t": [strings.id(str(t)) for t in tokens]}
    if with_acts:
        out["a"] = [_round(a) for a in ex.get("activations") or []]
        out["q"] = ex.get("quantile")
    wrong = marks.get((row, start))
    if wrong:
        out["w"] = wrong
    return out


def _pick(examples: list[dict], limit: int, marks: dict, by_activation: bool) -> list[dict]:
    """The first `limit` examples (strongest first when `by_activation`) plus every marked one."""
    if by_activation:
        examples = sorted(examples, key=lambda e: -max((_number(a) or 0.0) for a in e.get("activations") or [0]))
    marked = lambda e: (int(e.get("row", -1)), int(e.get("start", -1))) in marks  # noqa: E731
    return [e for i, e in enumerate(examples) if i < limit or marked(e)]


def _scores(scores: dict[str, dict[str, Any]], counts: dict[str, dict]) -> dict[str, Any]:
    """Scorer -> {m: metrics, p: primary metric, err, unp: unparseable prompts, ...mistake counts}."""
    out = {}
    for scorer, result in scores.items():
        metrics = {k: _round(v) for k, v in (result.get("metrics") or {}).items() if _number(v) is not None}
        out[scorer] = {"m": metrics, "p": primary_metric(metrics), "err": result.get("error"),
                       "unp": result.get("n_unparseable") or 0, **counts.get(scorer, {})}
    return out


def latent_card(latent: LatentData, strings: Strings, max_activating: int, max_non_activating: int) -> dict[str, Any]:
    """The compact card of one latent (see the module docstring)."""
    record = latent.record or {}
    activating = list(record.get("train") or []) + list(record.get("test") or [])
    non_activating = list(record.get("negatives") or []) + list(record.get("explainer_negatives") or [])
    marks, counts = _mistakes(latent.scores)
    shown_act = _pick(activating, max_activating, marks, by_activation=True)
    shown_non = _pick(non_activating, max_non_activating, marks, by_activation=False)
    explanation = latent.explanation or {}
    return {
        "hp": latent.hookpoint, "i": latent.index,
        "x": explanation.get("text"), "err": latent.error,
        "fr": _number(record.get("firing_rate")), "max": _number(record.get("max_activation")),
        "mean": _number(record.get("mean_activation")), "na": record.get("n_activating"),
        "nnz": record.get("n_nonzero"), "top": record.get("top_output_tokens"),
        "short": record.get("negative_shortfall") or 0, "rec": bool(latent.record),
        "sc": _scores(latent.scores, counts), "h": _histogram(activating),
        "act": [_example(e, strings, marks, True) for e in shown_act],
        "non": [_example(e, strings, marks, False) for e in shown_non],
        "nact": len(activating), "nnon": len(non_activating),
    }
