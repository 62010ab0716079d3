"""Simulation: predict each token's activation (0-10) from the explanation, then correlate.

One prompt per excerpt (test examples and scorer negatives), all sent concurrently. The reply is
a JSON object keyed by token position. With `log_probs`, each value becomes the expected value
over the integer tokens 0-10 at its position (when the value is a single token); otherwise the
stated integer. Score: one Pearson correlation pooled over all tokens of all parsed excerpts, as
OpenAI's neuron-explainer defines it, against the raw activations of the cache (not a 0-10
rounding, which turns weak windows into zeros); per quantile, the same over that quantile's
examples together with all negatives (so each has both classes). Constant predictions carry no
information and score 0 (not NaN, which would drop the latent from the mean).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

import numpy as np

from autointerp.clients.base import Client, LLMError, Message, Response
from autointerp.prompting import example_tokens, load_template, render
from autointerp.metrics.correlation import pooled_correlation
from autointerp.records import ActivatingExample, Explanation, LatentRecord, ScoredSample, ScoreResult
from autointerp.scorers import prompts
from autointerp.scorers.base import Scorer
from autointerp.scorers.classifier import TOP_LOGPROBS, Item, ask
from autointerp.scorers.parsing import expected_value, parse_simulation, tokens_at
from autointerp.prompting import simulation_format

logger = logging.getLogger(__name__)

FIELDS = ("explanation", "examples", "n")


class SimulationScorer(Scorer):
    """Per-token activation prediction scored by the pooled correlation (chance 0)."""

    name = "simulation"

    def __init__(self, *, log_probs: bool = False, tokenizer: Any = None, prompt_template: str | None = None,
                 max_tokens: int = 512, temperature: float = 0.0, structured: bool = False) -> None:
        """Settings only; `log_probs` turns each predicted value into an expected value over 0-10;
        `structured` constrains the reply with a JSON schema (as for the classifier scorers)."""
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        self.log_probs = log_probs
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.structured = structured
        self.template = load_template(prompt_template, prompts.SIMULATION, FIELDS, "prompt_template")

    def items(self, record: LatentRecord) -> list[Item]:
        """Test examples then negatives, in record order (no shuffling: one excerpt per prompt)."""
        items = [Item(ex, True, "", quantile=ex.quantile) for ex in record.test]
        return items + [Item(ex, False, "") for ex in record.negatives]

    def build_messages(self, explanation: str, item: Item) -> list[Message]:
        """The exact chat for one excerpt, its tokens listed one per line with their positions."""
        tokens = example_tokens(item.example, self.tokenizer)
        listed = "".join(f"{i}\t{tok!r}\n" for i, tok in enumerate(tokens))
        user = render(self.template, explanation=explanation, examples=listed, n=str(len(tokens)))
        return [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": user}]

    @staticmethod
    def truth(item: Item, record: LatentRecord) -> list[float]:
        """The excerpt's raw activations (zeros for a negative)."""
        if isinstance(item.example, ActivatingExample):
            return [float(v) for v in item.example.activations]
        return [0.0] * len(item.example.tokens)

    async def score(self, record: LatentRecord, explanation: Explanation | None, client: Client) -> ScoreResult:
        """Ask about every excerpt concurrently and compute the pooled correlations."""
        if explanation is None:
            raise ValueError("simulation needs an explanation")
        items = self.items(record)
        if not items:
            return ScoreResult(latent=record.latent, scorer=self.name, explanation=explanation.text,
                               error=f"skipped: latent {record.latent} has no examples for simulation")
        kwargs = {"max_tokens": self.max_tokens, "temperature": self.temperature, "logprobs": self.log_probs,
                  "top_logprobs": TOP_LOGPROBS if self.log_probs else 0}
        replies = await asyncio.gather(*(
            ask(client, self.build_messages(explanation.text, it), **kwargs,
                response_format=simulation_format(len(it.example.tokens)) if self.structured else None)
            for it in items))
        result = ScoreResult(latent=record.latent, scorer=self.name, explanation=explanation.text)
        result.samples = [self._read(it, reply, record, result) for it, reply in zip(items, replies)]
        failed = sum(isinstance(r, LLMError) for r in replies)
        if failed == len(items):
            result.error = f"all {failed} prompts failed: {next(iter(replies))}"
            return result
        result.metrics = simulation_metrics(result.samples)
        return result

    def _read(self, item: Item, reply: Response | LLMError, record: LatentRecord,
              result: ScoreResult) -> ScoredSample:
        """The excerpt's sample with per-token predictions, when the reply can be read."""
        sample = item.sample()
        sample.true_activations = self.truth(item, record)
        if isinstance(reply, LLMError):
            return sample
        result.prompt_tokens += reply.prompt_tokens
        result.completion_tokens += reply.completion_tokens
        parsed = parse_simulation(reply.text, len(sample.true_activations))
        if parsed is None:
            result.n_unparseable += 1
            return sample
        values, offsets = parsed
        if self.log_probs:
            positions = sorted(offsets)
            found = tokens_at(reply.logprobs, reply.text, [offsets[p] for p in positions])
            for pos, tok in zip(positions, found):
                ev = expected_value(tok) if tok is not None and tok.token.strip() == _fmt(values[pos]) else None
                values[pos] = ev if ev is not None else values[pos]
        sample.predicted_activations = values
        return sample


def _fmt(value: float) -> str:
    """An integer-valued prediction as the model wrote it."""
    return str(int(value)) if float(value).is_integer() else str(value)


def simulation_metrics(samples: list[ScoredSample]) -> dict[str, float]:
    """The pooled correlation over all parsed samples, and per quantile (with all negatives)."""
    parsed = [s for s in samples if s.predicted_activations is not None]
    coverage = len(parsed) / len(samples) if samples else 0.0
    if not parsed:
        return {"correlation": float("nan"), "correlation_chance": 0.0, "coverage": coverage}
    metrics = {"correlation": _pooled(parsed), "correlation_chance": 0.0, "coverage": coverage}
    negatives = [s for s in parsed if not s.activating]
    by_quantile: dict[int, list[ScoredSample]] = defaultdict(list)
    for s in parsed:
        if s.activating:
            by_quantile[int(s.quantile or 0)].append(s)
    for q, group in sorted(by_quantile.items()):
        metrics[f"correlation_q{q}"] = _pooled(group + negatives)
        metrics[f"correlation_q{q}_chance"] = 0.0
    return metrics


def _pooled(samples: list[ScoredSample]) -> float:
    """Pooled correlation of a group of samples; 0 when the predictions are constant (no information),
    NaN only when the truth is (no activating token answered)."""
    predicted = [np.asarray(s.predicted_activations, float) for s in samples]
    true = [np.asarray(s.true_activations, float) for s in samples]
    flat_true = np.concatenate(true) if true else np.zeros(0)
    if flat_true.size < 2 or np.all(flat_true == flat_true[0]):
        return float("nan")
    flat_pred = np.concatenate(predicted)
    if np.all(flat_pred == flat_pred[0]):
        return 0.0
    return pooled_correlation(predicted, true)
