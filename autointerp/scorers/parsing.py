"""Reading scorer replies: yes/no lists, a chosen number, per-token predictions, and the
probabilities behind them when the client returned logprobs.

Every parser returns None for a reply it cannot read; the scorer counts it as unparseable.
"""

from __future__ import annotations

import json
import math
import re

from autointerp.clients.base import TokenLogprob

_LIST = re.compile(r"\[([^\[\]]*)\]")
_OBJECT = re.compile(r"\{[^{}]*\}")
_ENTRY = re.compile(r"\"?(\d+)\"?\s*:\s*(\d+(?:\.\d+)?)")
_YES = {"1", "yes", "true"}
_NO = {"0", "no", "false"}


def parse_verdicts(text: str, n: int) -> tuple[list[bool], int] | None:
    """The `[...]` list of n yes/no items in the reply, and where its `[` starts; None otherwise.

    A reply holding several such lists that disagree is ambiguous (an echo of an example list
    followed by the answer, or two answers) and reads as None; agreeing repeats read as the last.
    """
    found = []
    for match in _LIST.finditer(text):
        items = [item.strip().strip("\"'").lower() for item in match.group(1).split(",")]
        if len(items) == n and all(item in _YES | _NO for item in items):
            found.append(([item in _YES for item in items], match.start()))
    if not found or any(verdicts != found[-1][0] for verdicts, _ in found):
        return None
    return found[-1]


def verdict_spans(text: str, start: int, n: int) -> list[int]:
    """Character offsets of the n verdict items of the list opening at `start`."""
    end = text.index("]", start)
    return [m.start() + start + 1 for m in re.finditer(r"[^,\s\"']+", text[start + 1 : end])][:n]


_POINTED = re.compile(r"(?:#|excerpt\s*(?:number\s*|no\.?\s*)?|number\s*|odd_one_out\"?\s*:\s*)(\d+)", re.IGNORECASE)


def parse_choice(text: str, n: int) -> int | None:
    """The 1-based excerpt number the reply names, when it lies in 1..n.

    A number that is pointed at ("#3", "Excerpt 3", "number 3", a JSON `odd_one_out`) wins; else
    the reply's only number. Several different candidates ("Of the 5 excerpts, 3") read as None.
    """
    pointed = {int(m) for m in _POINTED.findall(text)}
    candidates = pointed or {int(m) for m in re.findall(r"\d+", text)}
    if len(candidates) != 1:
        return None
    value = candidates.pop()
    return value if 1 <= value <= n else None


def parse_simulation(text: str, n: int) -> tuple[list[float], dict[int, int]] | None:
    """Per-token predictions 0-10 from the reply's JSON object; positions it leaves out are 0.

    Returns the predictions and, per predicted position, the character offset of its value.
    None when there is no object, a position lies outside 0..n-1, or a value lies outside 0-10.
    """
    match = None
    for candidate in _OBJECT.finditer(text):  # the last whole JSON object (an echoed example is not one)
        try:
            json.loads(candidate.group())
        except json.JSONDecodeError:
            continue
        match = candidate
    if match is None:
        return None
    values = [0.0] * n
    offsets: dict[int, int] = {}
    for entry in _ENTRY.finditer(match.group()):
        pos, value = int(entry.group(1)), float(entry.group(2))
        if not (0 <= pos < n and 0 <= value <= 10):
            return None
        values[pos] = value
        offsets[pos] = match.start() + entry.start(2)
    return values, offsets


def tokens_at(logprobs: list[TokenLogprob] | None, text: str, offsets: list[int]) -> list[TokenLogprob | None]:
    """The generated token covering each character offset; Nones when tokens do not spell the text."""
    if not logprobs or "".join(t.token for t in logprobs) != text:
        return [None] * len(offsets)
    starts, pos = [], 0
    for tok in logprobs:
        starts.append(pos)
        pos += len(tok.token)
    found: list[TokenLogprob | None] = []
    for offset in offsets:
        index = next((i for i in range(len(logprobs) - 1, -1, -1) if starts[i] <= offset), None)
        found.append(logprobs[index] if index is not None else None)
    return found


def _candidates(tok: TokenLogprob) -> dict[str, float]:
    """Top alternatives at a position plus the chosen token, as stripped text -> probability; spellings
    of one answer ("1", " 1") are different tokens, so their probabilities add up."""
    probs: dict[str, float] = {}
    for key, lp in {**tok.top_logprobs, tok.token: tok.logprob}.items():
        probs[key.strip().lower()] = probs.get(key.strip().lower(), 0.0) + math.exp(lp)
    return probs


def probability_yes(tok: TokenLogprob | None) -> float | None:
    """P(1) / (P(1) + P(0)) at a verdict token; None without logprobs or when neither appears."""
    if tok is None:
        return None
    probs = _candidates(tok)
    yes = sum(p for k, p in probs.items() if k in _YES)
    no = sum(p for k, p in probs.items() if k in _NO)
    return yes / (yes + no) if yes + no > 0 else None


def expected_value(tok: TokenLogprob | None) -> float | None:
    """Expected value over the integer tokens 0-10 at a position, renormalized; None when none appear."""
    if tok is None:
        return None
    probs = {int(k): p for k, p in _candidates(tok).items() if k.isdigit() and int(k) <= 10}
    total = sum(probs.values())
    return sum(k * p for k, p in probs.items()) / total if total > 0 else None
