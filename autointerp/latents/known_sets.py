"""Known-answer token sets: month names, digits, a frequent word, a punctuation mark, the word after a
given word, a token class by regex; chosen from a run's own tokens and tokenizer, for any subject model.

A set is the truth of one known-answer latent (`autointerp.latents.known_answer` writes them as a
calibration hookpoint): the latent fires exactly where `KnownSet.fires` says. `KnownSet.named_by`
says whether an explanation names the set, by the tokens and words it mentions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
PUNCTUATION = {",": "comma", ".": "period", ";": "semicolon", ":": "colon", "!": "exclamation", "?": "question mark",
               "(": "parenthesis", ")": "parenthesis", '"': "quotation mark", "'": "apostrophe", "-": "hyphen"}
KINDS = ("months", "digits", "word", "punctuation", "after", "suffix")
"""The kinds of set, in the order they are taken (then again from the top for the next candidate of each)."""
SUFFIX_RULE = r"^[a-z]{2,}ing$"
"""The token class by regex: lowercase words ending in -ing."""
MAX_COVERAGE = 0.5
"""A set may fire in at most this fraction of example windows, so silent windows stay plentiful."""


@dataclass
class KnownSet:
    """One known-answer latent's truth: it fires on `token_ids` (after one of `after_ids`, when given)."""

    name: str
    """Short name, e.g. `months`, `word: the`, `after: of`."""
    kind: str
    """One of `KINDS`."""
    description: str
    """What the latent fires on, in words."""
    token_ids: list[int]
    """The tokens it fires on (for `after`: empty, it fires on any token after a trigger)."""
    tokens: list[str]
    """The decoded tokens (for `after`: the trigger words)."""
    after_ids: list[int] = field(default_factory=list)
    """For `after`: the trigger tokens; the latent fires on the token right after each."""
    names: list[str] = field(default_factory=list)
    """Words whose mention names the set (besides its tokens)."""

    def fires(self, tokens: np.ndarray) -> np.ndarray:
        """bool [n_rows, ctx_len]: where the latent fires in `tokens` [n_rows, ctx_len]."""
        if self.kind != "after":
            return np.isin(tokens, self.token_ids)
        out = np.zeros(tokens.shape, dtype=bool)
        out[:, 1:] = np.isin(tokens[:, :-1], self.after_ids)
        return out

    def named_by(self, text: str | None) -> bool:
        """True when the explanation `text` names the set: mentions one of its tokens (a word as a whole
        word, a mark in quotes) or one of its names; for `after`, the trigger word after "after"/"following"."""
        if not text:
            return False
        low = text.lower()
        if self.kind == "after":
            words = "|".join(re.escape(t.strip().lower()) for t in self.tokens)
            rule = rf"\b(after|following|follows|followed|preceded by|precedes|comes? after|next to)\b\W+(\w+\W+){{0,3}}?({words})\b"
            return re.search(rule, low) is not None
        if self.kind == "word":  # a bare "of" or "and" is the explanation's own grammar, not a mention
            return any(_quoted(low, t.strip().lower()) or re.search(rf"\b(word|token)s?\W+{re.escape(t.strip().lower())}\b", low)
                       for t in self.tokens)
        return any(_mentions(low, t.strip().lower()) for t in [*self.tokens, *self.names] if t.strip())

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the calibration manifest stores it)."""
        return asdict(self)


def _mentions(text: str, word: str) -> bool:
    """`word` in `text`: as a whole word when it has letters or digits, else in quotes (a bare comma is
    punctuation of the explanation, not a mention)."""
    if re.search(r"\w", word):
        return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None
    return _quoted(text, word)


def _quoted(text: str, word: str) -> bool:
    """`word` in quotes (or << >>) in `text`, a space inside the quotes allowed."""
    pairs = (('"', '"'), ("'", "'"), ("`", "`"), ("<<", ">>"), ("“", "”"), ("‘", "’"))
    return any(f"{q}{pad}{word}{r}" in text for q, r in pairs for pad in ("", " "))


class Vocabulary:
    """The tokens that occur in a cache, decoded once, with their counts and window coverage."""

    def __init__(self, tokens: np.ndarray, tokenizer: Any, width: int) -> None:
        """tokens: int [n_rows, ctx_len]; width: the example window length (coverage is per window)."""
        self.tokens = tokens
        self.width = max(1, min(width, tokens.shape[1]))
        ids, counts = np.unique(tokens, return_counts=True)
        special = set(getattr(tokenizer, "all_special_ids", None) or [])
        keep = [i for i, t in enumerate(ids) if int(t) not in special]
        self.ids, self.counts = ids[keep].astype(np.int64), counts[keep]
        self.text = {int(t): tokenizer.decode([int(t)]) for t in self.ids}

    def by_count(self) -> list[int]:
        """Token ids, most frequent first (ties by id)."""
        order = np.lexsort((self.ids, -self.counts))
        return [int(self.ids[i]) for i in order]

    def matching(self, rule: str, strip: bool = True) -> list[int]:
        """Ids whose (stripped) text matches the regex `rule`."""
        pattern = re.compile(rule)
        return [t for t, s in self.text.items() if pattern.search(s.strip() if strip else s)]

    def windows(self, mask: np.ndarray) -> tuple[int, float]:
        """(windows in which `mask` fires, the fraction of all windows), over non-overlapping windows."""
        n_rows, ctx = mask.shape
        usable = ctx - ctx % self.width
        per = mask[:, :usable].reshape(n_rows, usable // self.width, self.width).any(axis=2)
        return int(per.sum()), float(per.mean()) if per.size else 0.0


def candidates(vocab: Vocabulary) -> dict[str, Iterator[KnownSet]]:
    """Per kind, the sets to try in order of preference."""
    return {"months": _months(vocab), "digits": _digits(vocab), "word": _words(vocab, "word"),
            "punctuation": _punctuation(vocab), "after": _words(vocab, "after"), "suffix": _suffix(vocab)}


def _months(vocab: Vocabulary) -> Iterator[KnownSet]:
    ids = [t for t, s in vocab.text.items() if s.strip().lower() in MONTHS and s.strip()[:1].isupper()]
    if ids:
        yield KnownSet("months", "months", "month names (January ... December)", sorted(ids),
                       [vocab.text[t] for t in sorted(ids)], names=["month", "months", "date", "dates"])


def _digits(vocab: Vocabulary) -> Iterator[KnownSet]:
    ids = sorted(vocab.matching(r"^\d+$"))
    if ids:
        yield KnownSet("digits", "digits", "tokens made of digits", ids, [vocab.text[t] for t in ids],
                       names=["digit", "digits", "number", "numbers", "numeral", "numerals", "numeric", "year", "years"])


def _words(vocab: Vocabulary, kind: str) -> Iterator[KnownSet]:
    """Frequent whole words, most frequent first: the word itself, or the token after it."""
    for t in vocab.by_count():
        word = vocab.text[t]
        if not re.fullmatch(r"\s?(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{2,}", word):  # a word: 2+ letters or digits, one a letter
            continue
        if kind == "word":
            yield KnownSet(f"word: {word.strip()}", "word", f"the word {word.strip()!r}", [t], [word])
        else:
            yield KnownSet(f"after: {word.strip()}", "after", f"the token right after the word {word.strip()!r}",
                           [], [word], after_ids=[t])


def _punctuation(vocab: Vocabulary) -> Iterator[KnownSet]:
    for t in vocab.by_count():
        mark = vocab.text[t].strip()
        if mark in PUNCTUATION and len(vocab.text[t]) <= 2:
            yield KnownSet(f"punctuation: {mark}", "punctuation", f"the mark {mark!r} ({PUNCTUATION[mark]})", [t],
                           [vocab.text[t]], names=[PUNCTUATION[mark], PUNCTUATION[mark] + "s"])


def _suffix(vocab: Vocabulary) -> Iterator[KnownSet]:
    ids = sorted(vocab.matching(SUFFIX_RULE))
    if ids:
        yield KnownSet("suffix: -ing", "suffix", f"words ending in -ing (regex {SUFFIX_RULE})", ids,
                       [vocab.text[t] for t in ids], names=["-ing", "ing", "gerund", "gerunds", "participle", "participles"])


def choose_sets(tokens: np.ndarray, tokenizer: Any, n: int, *, width: int, min_windows: int) -> list[KnownSet]:
    """Up to `n` sets that fire in at least `min_windows` and at most `MAX_COVERAGE` of the cache's
    windows of `width` tokens, taking the kinds in turn; fewer (with a warning) when the text lacks them."""
    vocab = Vocabulary(np.asarray(tokens), tokenizer, width)
    pools, chosen, used = candidates(vocab), [], set()
    while len(chosen) < n and pools:
        for kind in list(pools):
            found = _next_usable(pools[kind], vocab, min_windows, used)
            if found is None:
                del pools[kind]
                continue
            chosen.append(found)
            used.add(found.name.split(": ", 1)[-1])
            if len(chosen) == n:
                break
    if len(chosen) < n:
        logger.warning("calibration: the cache's text gives only %d known-answer sets of the %d asked", len(chosen), n)
    return chosen


def _next_usable(pool: Iterator[KnownSet], vocab: Vocabulary, min_windows: int, used: set[str]) -> KnownSet | None:
    """The pool's next set that fires in enough windows, but not in too many; None when it runs dry."""
    for known in pool:
        if known.name.split(": ", 1)[-1] in used and known.kind in ("word", "after"):
            continue  # the same word as a word set and as a trigger would be two answers to one question
        count, coverage = vocab.windows(known.fires(vocab.tokens))
        if count >= min_windows and coverage <= MAX_COVERAGE:
            return known
        logger.debug("calibration: %s fires in %d windows (%.0f%%): not used", known.name, count, 100 * coverage)
        if count < min_windows and known.kind in ("word", "after", "punctuation"):
            return None  # these pools run most frequent first: the rest are rarer still
    return None
