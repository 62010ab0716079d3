"""The shared machinery of yes/no scorers (detection, recall, fuzz): items, seeded shuffling,
batching, concurrent prompts, parsing, probabilities and metrics.
"""

from __future__ import annotations

import asyncio
import logging
import random
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

from autointerp.clients.base import Client, LLMError, Message, Response
from autointerp.prompting import load_template, render
from autointerp.metrics.classification import verdict_metrics
from autointerp.records import Example, Explanation, LatentRecord, ScoredSample, ScoreResult
from autointerp.scorers import prompts
from autointerp.scorers.base import Scorer
from autointerp.scorers.parsing import parse_verdicts, probability_yes, tokens_at, verdict_spans
from autointerp.prompting import verdicts_format

logger = logging.getLogger(__name__)

FIELDS = ("explanation", "examples", "n")
TOP_LOGPROBS = 5
"""Alternatives asked for at each generated token when `log_probs` is on."""


@dataclass
class Item:
    """One example as a scorer shows it."""

    example: Example
    activating: bool
    text: str
    quantile: int | None = None
    highlighted: list[int] | None = None
    kind: str | None = None
    offset: int = 0
    """First window position shown (a crop shows `text` from there)."""

    def sample(self) -> ScoredSample:
        """The ScoredSample for this item, before the LLM's answer is filled in."""
        return ScoredSample(row=int(self.example.row), start=int(self.example.start), role=self.example.role,
                            activating=self.activating, quantile=self.quantile, highlighted=self.highlighted,
                            kind=self.kind)


DEFAULT_SEED = 22
"""The seed of a scorer given none, outside a run (in a run, `interpret.seed` reaches it through `bind`)."""


def latent_rng(seed: int | None, record: LatentRecord) -> random.Random:
    """A generator seeded by the scorer seed and the latent, so each latent shuffles differently."""
    return random.Random(f"{DEFAULT_SEED if seed is None else seed}/{record.latent}")


async def ask(client: Client, messages: list[Message], **kwargs: Any) -> Response | LLMError:
    """One generate call; a failed call comes back as its LLMError instead of raising."""
    try:
        return await client.generate(messages, **kwargs)
    except LLMError as err:
        return err


class ClassifierScorer(Scorer):
    """Base of the yes/no scorers: shuffled items in batches, one prompt per batch, all concurrent."""

    _template: str = prompts.DETECTION

    def __init__(
        self,
        *,
        n_examples_per_prompt: int = 5,
        log_probs: bool = False,
        seed: int | None = None,
        threshold: float = 0.0,
        tokenizer: Any = None,
        prompt_template: str | None = None,
        max_tokens: int = 64,
        temperature: float = 0.0,
        structured: bool = False,
        min_per_class: int = 2,
    ) -> None:
        """Settings only.

        Args:
            n_examples_per_prompt: excerpts per prompt (the spec's `num_examples_per_scorer_prompt`).
            log_probs: ask for logprobs and record P(yes) per example, giving AUROC.
            seed: seeds the shuffling (mixed with the latent, so latents differ); None: the run's seed.
            threshold: marking rule, as for explainers (fraction of the excerpt's maximum).
            tokenizer: decodes example tokens when a record lacks `str_tokens`.
            prompt_template: path of a file replacing the user-message template.
            max_tokens: most tokens the scorer LLM may write per prompt.
            temperature: the scorer LLM's sampling temperature.
            structured: send a JSON schema (`response_format`) that constrains the reply; for
                servers that support it (llama.cpp, vLLM, OpenAI) and small models.
            min_per_class: a latent needs this many examples of each class to be scored (else it is
                skipped), and this many answered ones of each for its metrics (else they are NaN).
        """
        if n_examples_per_prompt < 1:
            raise ValueError(f"n_examples_per_prompt must be at least 1, got {n_examples_per_prompt}")
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        if min_per_class < 1:
            raise ValueError(f"min_per_class must be at least 1, got {min_per_class}")
        self.min_per_class = min_per_class
        self.n_examples_per_prompt = n_examples_per_prompt
        self.log_probs = log_probs
        self.seed = seed
        self.threshold = threshold
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.structured = structured
        self.template = load_template(prompt_template, self._template, FIELDS, "prompt_template")

    @abstractmethod
    def items(self, record: LatentRecord, rng: random.Random) -> list[Item]:
        """The examples this scorer asks about, with their ground truth."""

    def batches(self, record: LatentRecord) -> list[list[Item]]:
        """The items, shuffled with the latent's seed and cut into prompts (the last may be short)."""
        rng = latent_rng(self.seed, record)
        items = self.items(record, rng)
        rng.shuffle(items)
        n = self.n_examples_per_prompt
        return [items[i : i + n] for i in range(0, len(items), n)]

    def build_messages(self, explanation: str, batch: list[Item]) -> list[Message]:
        """The exact chat for one batch."""
        examples = "".join(f"Excerpt {i}: {item.text}\n" for i, item in enumerate(batch, 1))
        user = render(self.template, explanation=explanation, examples=examples, n=str(len(batch)))
        return [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": user}]

    async def score(self, record: LatentRecord, explanation: Explanation | None, client: Client) -> ScoreResult:
        """Ask about every batch concurrently, parse the replies and compute the metrics."""
        if explanation is None:
            raise ValueError(f"{self.name} needs an explanation")
        short = self.too_few(record)
        batches = [] if short else self.batches(record)
        if not batches:
            return ScoreResult(latent=record.latent, scorer=self.name, explanation=explanation.text,
                               error=f"skipped: latent {record.latent} {short or 'has no examples'} for {self.name}")
        kwargs = {"max_tokens": self.max_tokens, "temperature": self.temperature, "logprobs": self.log_probs,
                  "top_logprobs": TOP_LOGPROBS if self.log_probs else 0}
        replies = await asyncio.gather(*(
            ask(client, self.build_messages(explanation.text, b), **kwargs,
                response_format=verdicts_format(len(b)) if self.structured else None)
            for b in batches))
        result = ScoreResult(latent=record.latent, scorer=self.name, explanation=explanation.text)
        failures = [r for r in replies if isinstance(r, LLMError)]
        for batch, reply in zip(batches, replies):
            result.samples.extend(self._read(batch, reply, result))
        if len(failures) == len(batches):
            result.error = f"all {len(batches)} prompts failed: {failures[0]}"
            return result
        result.metrics = self.metrics(result.samples)
        if failures:
            result.metrics["failed_prompts"] = float(len(failures))
        return result

    def _read(self, batch: list[Item], reply: Response | LLMError, result: ScoreResult) -> list[ScoredSample]:
        """The batch's samples with the LLM's verdicts and probabilities filled in where readable."""
        samples = [item.sample() for item in batch]
        if isinstance(reply, LLMError):
            return samples
        result.prompt_tokens += reply.prompt_tokens
        result.completion_tokens += reply.completion_tokens
        parsed = parse_verdicts(reply.text, len(batch))
        if parsed is None:
            result.n_unparseable += 1
            logger.debug("%s: unparseable reply for %s: %r", self.name, result.latent, reply.text[:200])
            return samples
        verdicts, start = parsed
        tokens = tokens_at(reply.logprobs, reply.text, verdict_spans(reply.text, start, len(batch)))
        for sample, verdict, tok in zip(samples, verdicts, tokens):
            sample.prediction = verdict
            sample.probability = probability_yes(tok) if self.log_probs else None
        return samples

    def too_few(self, record: LatentRecord) -> str | None:
        """Why the record cannot be scored (too few examples of a class), or None."""
        n_pos, n_neg = len(record.test), len(record.negatives)
        if min(n_pos, n_neg) < self.min_per_class:
            return f"has {n_pos} test examples and {n_neg} negatives, fewer than min_per_class={self.min_per_class}"
        return None

    def metrics(self, samples: list[ScoredSample]) -> dict[str, float]:
        """Classification metrics over the answered samples, coverage, intention to treat, AUROC with logprobs."""
        return verdict_metrics([s.activating for s in samples], [s.prediction for s in samples],
                               [s.probability for s in samples] if self.log_probs else None,
                               min_per_class=self.min_per_class)
