"""The steering scorer's pieces that need no model: held-apart prompts, judge prompt text, logit-lens mentions.

Prompts are the first `length` tokens of rows of the run's own cached text, drawn in a seeded
order; a row is left out for a latent when any window of that latent's record (train, test, select,
explainer negatives, scorer negatives, select negatives) overlaps the prompt, so no example the explainer saw or a
scorer tests is continued.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from autointerp.records import LatentRecord

SYSTEM = (
    "You test explanations of latents of a language model's sparse autoencoder. A latent can be "
    "amplified while the model writes, which pushes the text towards what the latent does. "
    "Follow the reply format exactly."
)

PAIR = """\
Explanation of the latent: $explanation

The model continued the same opening twice. In one continuation the latent was amplified; the \
other is the model's normal continuation.

Opening: $prompt
Continuation 1: $first
Continuation 2: $second

Judging by the explanation, which continuation was written with the latent amplified? Reply with \
only its number, 1 or 2.
"""

CHOICE = """\
The model continued an opening twice: normally, and with one latent amplified.

Opening: $prompt
Normal continuation: $unsteered
Continuation with the latent amplified: $steered

Which explanation describes the amplified latent?
$options
Reply with only the explanation's number, 1 to $n.
"""

PAIR_FIELDS = ("explanation", "prompt", "first", "second")
CHOICE_FIELDS = ("prompt", "unsteered", "steered", "options", "n")


def candidate_rows(n_rows: int, n: int, seed: int) -> list[int]:
    """The first `n` rows of a seeded permutation of the cache's rows: the run's prompt pool, in order."""
    order = np.random.default_rng(seed).permutation(n_rows)
    return [int(r) for r in order[:n]]


def used_spans(record: LatentRecord) -> dict[int, list[tuple[int, int]]]:
    """{row: [(start, end), ...]} of every window of the record, whatever its split."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for example in (*record.train, *record.test, *record.select, *record.explainer_negatives, *record.negatives,
                    *record.select_negatives):
        spans.setdefault(int(example.row), []).append((int(example.start), int(example.start) + len(example.tokens)))
    return spans


def held_apart(rows: list[int], record: LatentRecord, length: int, n: int) -> list[int]:
    """The first `n` rows whose prompt window [0, length) overlaps none of the record's windows."""
    spans = used_spans(record)
    kept = [row for row in rows if not any(start < length and end > 0 for start, end in spans.get(row, []))]
    return kept[:n]


def balanced_positions(n: int, k: int, rng: Any) -> list[int]:
    """`n` positions in 0..k-1, each as often as possible (counts differ by at most one), in a seeded order.

    Balancing makes a judge that always names one position score exactly chance when k divides n."""
    positions = [i % k for i in range(n)]
    rng.shuffle(positions)
    return positions


def distinct_share(continuations: list[list[int]]) -> float:
    """Mean share of distinct tokens per continuation (1.0: no token repeats); 1.0 for none."""
    shares = [len(set(c)) / len(c) for c in continuations if c]
    return sum(shares) / len(shares) if shares else 1.0


_WORD = re.compile(r"[a-z0-9]+")


def named_output_tokens(explanation: str, tokens: list[str] | None, min_length: int = 3) -> list[str]:
    """The logit-lens tokens the explanation names as words (case-insensitive, whole words).

    Tokens are stripped to their letters and digits; shorter ones than `min_length` (` a`, `,`,
    `of`) would match almost any explanation and are not counted."""
    if not tokens:
        return []
    words = set(_WORD.findall(explanation.lower()))
    named = []
    for token in tokens:
        core = "".join(_WORD.findall(token.lower()))
        if len(core) >= min_length and core in words and core not in named:
            named.append(core)
    return named


def one_line(text: str) -> str:
    """Text shown on one line of a prompt: newlines as spaces, quoted so blanks stay visible."""
    return '"' + " ".join(text.split("\n")).strip() + '"'
