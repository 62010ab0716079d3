"""Classification metrics for yes/no scorers, each with the chance level a truth-blind guesser gets.

Pure functions over plain sequences. Chance levels: balanced accuracy 0.5; accuracy the
majority-class rate (the best a constant answer can do); precision the positive rate (any guesser
that ignores the example); recall 0.5 and F1 `2*pi*0.5/(pi+0.5)` for a fair coin; AUROC 0.5.
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
    if pos and n - pos:
        balanced = (recall + specificity) / 2
    else:  # one class only: balanced accuracy reduces to the accuracy on that class
        balanced = recall if pos else specificity
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
        "recall_chance": 0.5,
        "f1": f1,
        "f1_chance": _ratio(rate, rate + 0.5) if n else math.nan,
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
