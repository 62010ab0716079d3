"""`TopTokensExplainer`: a control that needs no LLM. It names the tokens carrying most of the
latent's activation mass on the training examples (and the token before them, when that one is
consistent), as a short phrase.

Run beside an LLM explainer on the same latents (`interpret.baseline_explainer`), it says whether
the LLM added anything over a token list: the summary gives each LLM explanation's lift over it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from autointerp.clients.base import Client
from autointerp.explainers.base import Explainer, ExplanationError
from autointerp.prompting import example_tokens
from autointerp.records import ActivatingExample, Explanation, LatentRecord


class TopTokensExplainer(Explainer):
    """Names the top tokens by activation mass on `train`; no LLM call, so no cost."""

    name = "top-tokens"
    needs_llm = False

    def __init__(self, max_tokens: int = 3, mass: float = 0.8, context_share: float = 0.6,
                 tokenizer: Any = None) -> None:
        """max_tokens: most tokens named; mass: stop once the named tokens carry this share of the
        activation mass; context_share: name a token's preceding token when that one precedes at
        least this share of the token's mass; tokenizer: the run's (bound) to read tokens as text."""
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        if not 0.0 < mass <= 1.0:
            raise ValueError(f"mass must lie in (0, 1], got {mass}")
        if not 0.0 < context_share <= 1.0:
            raise ValueError(f"context_share must lie in (0, 1], got {context_share}")
        self.max_tokens, self.mass, self.context_share = max_tokens, mass, context_share
        self.tokenizer = tokenizer

    async def explain(self, record: LatentRecord, client: Client | None = None) -> Explanation:
        """The phrase for one latent (the client is not used); ExplanationError when `train` never fires."""
        return Explanation(latent=record.latent, text=self.phrase(record.train), explainer=self.name, model="")

    def phrase(self, examples: list[ActivatingExample]) -> str:
        """`tokens "cat" (after "black"), "dog"`: the top tokens by mass, each with its consistent predecessor."""
        mass, before = self._masses(examples)
        total = sum(mass.values())
        if total <= 0:
            raise ExplanationError("no activation on the training examples: nothing to name")
        named, covered = [], 0.0
        for token, m in sorted(mass.items(), key=lambda kv: (-kv[1], kv[0])):
            if len(named) == self.max_tokens or covered >= self.mass * total:
                break
            named.append(_quoted(token) + self._context(token, m, before[token]))
            covered += m
        return ("token " if len(named) == 1 else "tokens ") + ", ".join(named)

    def _masses(self, examples: list[ActivatingExample]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        """{token: activation mass} and {token: {preceding token: mass}} over the examples (tokens stripped)."""
        mass: dict[str, float] = defaultdict(float)
        before: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for ex in examples:
            tokens = [t.strip() for t in example_tokens(ex, self.tokenizer)]
            acts = np.asarray(ex.activations, dtype=float)
            for i in np.flatnonzero(acts > 0):
                if not tokens[i]:
                    continue  # a bare space or newline names nothing
                mass[tokens[i]] += float(acts[i])
                if i > 0 and tokens[i - 1]:
                    before[tokens[i]][tokens[i - 1]] += float(acts[i])
        return mass, before

    def _context(self, token: str, token_mass: float, preceding: dict[str, float]) -> str:
        """` (after "black")` when one preceding token carries at least `context_share` of the mass, else ""."""
        if not preceding:
            return ""
        prev, m = max(preceding.items(), key=lambda kv: (kv[1], kv[0]))
        return f" (after {_quoted(prev)})" if m >= self.context_share * token_mass else ""


def _quoted(token: str) -> str:
    return '"' + token.replace('"', "'") + '"'
