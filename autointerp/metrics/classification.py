"""Classification metrics for yes/no scorers, each with the chance level a truth-blind guesser gets.

Pure functions over plain sequences. Chance levels: balanced accuracy 0.5; accuracy the
majority-class rate (the best a constant answer can do); precision the positive rate (any guesser
that ignores the example); recall the judge's own false-positive rate (what it says "yes" to
without evidence: 1.0 for an always-"yes" judge); F1 `2*pi*0.5/(pi+0.5)` for a fair coin; AUROC 0.5.
A metric that needs a class the samples lack (balanced accuracy, AUROC) is NaN, never the other
class's accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def confusion(y_true: Sequence[bool], y_pred: Sequence[bool]) -> tuple[int, int, int, int]:
    """Counts (tp, fp, tn, fn) of predictions against the truth."""
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} items but y_pred has {p.size}")
    tp = int(np.sum(t & p))
    fp = int(np.sum(~t & p))
    tn = int(np.sum(~t & ~p))
    fn = int(np.sum(t & ~p))
    return tp, fp, tn, fn


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when the denominator is zero (the metric is undefined, not zero)."""
    return num / den if den else math.nan


def classification_metrics(y_true: Sequence[bool], y_pred: Sequence[bool]) -> dict[str, float]:
    """Balanced accuracy, accuracy, precision, recall, F1 and the chance level of each.

    Keys ending in `_chance` give the chance level of the metric named without the suffix.
    Undefined values (no positives, no predictions of yes, ...) are NaN.
    """
    tp, fp, tn, fn = confusion(y_true, y_pred)
    n = tp + fp + tn + fn
    pos = tp + fn
    recall = _ratio(tp, pos)
    specificity = _ratio(tn, tn + fp)
    precision = _ratio(tp, tp + fp)
    balanced = (recall + specificity) / 2  # NaN with one class: it is undefined, not recall
    if tp == 0:
        f1 = 0.0 if pos or fp else math.nan
    else:
        f1 = 2 * precision * recall / (precision + recall)
    rate = _ratio(pos, n)
    return {
        "balanced_accuracy": balanced,
        "balanced_accuracy_chance": 0.5,
        "accuracy": _ratio(tp + tn, n),
        "accuracy_chance": max(rate, 1 - rate) if n else math.nan,
        "precision": precision,
        "precision_chance": rate,
        "recall": recall,
        "recall_chance": 1 - specificity,
        "f1": f1,
        "f1_chance": _ratio(rate, rate + 0.5) if n else math.nan,
        "false_positive_rate": 1 - specificity,
        "n_positive": float(pos),
        "n_negative": float(n - pos),
    }


def auroc(y_true: Sequence[bool], scores: Sequence[float]) -> float:
    """Area under the ROC curve (the Mann-Whitney U statistic, ties counted half); NaN for one class."""
    t = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=float)
    if t.shape != s.shape:
        raise ValueError(f"y_true has {t.size} items but scores has {s.size}")
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(s)
    u = ranks[t].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with tied values sharing their mean rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_vals = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def intention_to_treat_balanced_accuracy(tp: int, fn: int, tn: int, fp: int, missing_pos: int,
                                         missing_neg: int) -> float:
    """Balanced accuracy over every example asked, an unanswered one counting half right (chance)."""
    pos, neg = tp + fn + missing_pos, tn + fp + missing_neg
    if not pos or not neg:
        return math.nan
    return ((tp + 0.5 * missing_pos) / pos + (tn + 0.5 * missing_neg) / neg) / 2


def verdict_metrics(truth: Sequence[bool], predictions: Sequence[bool | None],
                    probabilities: Sequence[float | None] | None = None, *, min_per_class: int = 1) -> dict[str, float]:
    """The classification metrics of the answered examples, with coverage and intention to treat.

    `predictions` holds None where the reply could not be read. With fewer than `min_per_class`
    answered examples of either class every metric is NaN (and counted as such downstream).
    `balanced_accuracy_itt` counts each unanswered example as half right; AUROC uses the answered
    examples that have a probability, and `n_auroc` says how many.
    """
    answered = [(t, p) for t, p in zip(truth, predictions) if p is not None]
    metrics = classification_metrics([t for t, _ in answered], [bool(p) for _, p in answered])
    n_pos, n_neg = int(metrics["n_positive"]), int(metrics["n_negative"])
    if n_pos < min_per_class or n_neg < min_per_class:
        metrics = {k: (v if k.startswith("n_") or k in ("balanced_accuracy_chance",) else math.nan)
                   for k, v in metrics.items()}
    tp, fp, tn, fn = confusion([t for t, _ in answered], [bool(p) for _, p in answered])
    missing_pos = sum(bool(t) for t, p in zip(truth, predictions) if p is None)
    missing_neg = sum(not t for t, p in zip(truth, predictions) if p is None)
    metrics["balanced_accuracy_itt"] = intention_to_treat_balanced_accuracy(tp, fn, tn, fp, missing_pos, missing_neg)
    metrics["coverage"] = _ratio(len(answered), len(truth))
    if probabilities is not None:
        scored = [(t, q) for t, p, q in zip(truth, predictions, probabilities) if p is not None and q is not None]
        n_pos_q = sum(bool(t) for t, _ in scored)
        enough = n_pos_q >= min_per_class and len(scored) - n_pos_q >= min_per_class
        metrics["auroc"] = auroc([t for t, _ in scored], [q for _, q in scored]) if enough else math.nan
        metrics["auroc_chance"] = 0.5
        metrics["n_auroc"] = float(len(scored))
    return metrics
