"""Token ids to the strings they contribute to text, so that joined tokens read as the text did.

Decoding one token alone loses what the tokenizer's decoder does at the start of a text: a
SentencePiece tokenizer (Llama-2, Mistral) drops the word-leading space of `▁the`, so excerpts
built from per-token strings run their words together. Each id is decoded after a fixed reference
token instead, and the reference's own text is cut off: `decode([a, ▁the]) = "a the"` gives
" the". Byte-level BPE tokenizers (GPT-2 style) decode the same either way.
"""

from __future__ import annotations

from typing import Any


class TokenDecoder:
    """Decodes token ids one by one as they read inside a text (each id decoded once, then cached)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._cache: dict[int, str] = {}
        self._ref, self._ref_text = self._reference()

    def _reference(self) -> tuple[int | None, str]:
        """A single-token text to decode each id after, and its decoded form; None when there is none."""
        try:
            ids = self.tokenizer.encode("a", add_special_tokens=False)
        except (AttributeError, TypeError):
            return None, ""
        if len(ids) != 1:
            return None, ""
        return int(ids[0]), self.tokenizer.decode([int(ids[0])])

    def __call__(self, token: int) -> str:
        """The string token `token` adds to a text it does not start."""
        found = self._cache.get(token)
        if found is None:
            found = self._cache[token] = self._decode(token)
        return found

    def _decode(self, token: int) -> str:
        alone = self.tokenizer.decode([token])
        if self._ref is None:
            return alone
        both = self.tokenizer.decode([self._ref, token])
        return both[len(self._ref_text):] if both.startswith(self._ref_text) else alone
