"""Intruder: explanation-free; find the one non-activating excerpt among activating ones.

Each prompt holds `n_examples_per_prompt - 1` activating test examples (marked where they fire,
no example used twice) and one scorer negative marked at exactly the positions a test example *not
in that prompt* is marked at: the intruder's marks follow the positives' distribution of count, runs
and positions, and never duplicate a pattern of its own prompt. Metric: accuracy (chance
1 / n_examples_per_prompt), beside its intention-to-treat figure and coverage.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from autointerp.clients.base import Client, LLMError, Message, Response
from autointerp.prompting import example_tokens, load_template, mark, marked_positions, render
from autointerp.records import Explanation, LatentRecord, ScoredSample, ScoreResult
from autointerp.scorers import prompts
from autointerp.scorers.base import Scorer
from autointerp.scorers.classifier import Item, ask, latent_rng
from autointerp.scorers.parsing import parse_choice
from autointerp.prompting import choice_format

logger = logging.getLogger(__name__)

FIELDS = ("examples", "n")


class IntruderScorer(Scorer):
    """Shows activating excerpts plus one intruder and asks which excerpt is the odd one out."""

    name = "intruder"
    needs_explanation = False

    def __init__(self, *, n_examples_per_prompt: int = 5, seed: int | None = None, threshold: float = 0.0,
                 tokenizer: Any = None, prompt_template: str | None = None, max_tokens: int = 16,
                 temperature: float = 0.0, structured: bool = False) -> None:
        """Settings only; `n_examples_per_prompt` counts the intruder (at least 2); `structured`
        constrains the reply with a JSON schema (as for the classifier scorers)."""
        if n_examples_per_prompt < 2:
            raise ValueError(f"n_examples_per_prompt must be at least 2, got {n_examples_per_prompt}")
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        self.n_examples_per_prompt = n_examples_per_prompt
        self.seed = seed
        self.threshold = threshold
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.structured = structured
        self.template = load_template(prompt_template, prompts.INTRUDER, FIELDS, "prompt_template")

    def prompts_for(self, record: LatentRecord) -> list[tuple[list[Item], int]]:
        """Each prompt's items and the 0-based position of its intruder."""
        rng = latent_rng(self.seed, record)
        positives = list(record.test)
        rng.shuffle(positives)
        k = self.n_examples_per_prompt - 1
        n_prompts = min(len(record.negatives), len(positives) // k)
        built = []
        for p in range(n_prompts):
            items = []
            for ex in positives[p * k : (p + 1) * k]:
                marks = marked_positions(ex, self.threshold)
                items.append(Item(ex, True, mark(example_tokens(ex, self.tokenizer), marks),
                                  quantile=ex.quantile, highlighted=marks))
            neg = record.negatives[p]
            tokens = example_tokens(neg, self.tokenizer)
            others = positives[: p * k] + positives[(p + 1) * k :] or positives[p * k : (p + 1) * k]
            marks = marked_positions(rng.choice(others), self.threshold)
            where = rng.randrange(k + 1)
            items.insert(where, Item(neg, False, mark(tokens, marks), highlighted=marks))
            built.append((items, where))
        return built

    def build_messages(self, items: list[Item]) -> list[Message]:
        """The exact chat for one prompt."""
        examples = "".join(f"Excerpt {i}: {item.text}\n" for i, item in enumerate(items, 1))
        user = render(self.template, examples=examples, n=str(len(items)))
        return [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": user}]

    async def score(self, record: LatentRecord, explanation: Explanation | None, client: Client) -> ScoreResult:
        """Ask every prompt concurrently; one sample per prompt, `prediction` = intruder found."""
        built = self.prompts_for(record)
        result = ScoreResult(latent=record.latent, scorer=self.name,
                             explanation=explanation.text if explanation else None)
        if not built:
            result.error = (f"skipped: needs {self.n_examples_per_prompt - 1} test examples and one negative, "
                            f"has {len(record.test)} and {len(record.negatives)}")
            return result
        kwargs = {"max_tokens": self.max_tokens, "temperature": self.temperature}
        replies = await asyncio.gather(*(
            ask(client, self.build_messages(items), **kwargs,
                response_format=choice_format(len(items)) if self.structured else None)
            for items, _ in built))
        for (items, where), reply in zip(built, replies):
            result.samples.append(self._read(items, where, reply, result))
        failed = sum(isinstance(r, LLMError) for r in replies)
        if failed == len(replies):
            result.error = f"all {failed} prompts failed: {replies[0]}"
            return result
        result.metrics = self.metrics(result.samples, len(built))
        return result

    def metrics(self, samples: list[ScoredSample], n_prompts: int) -> dict[str, float]:
        """Accuracy over answered prompts, and with unanswered ones counted at chance."""
        chance = 1 / self.n_examples_per_prompt
        parsed = [s for s in samples if s.prediction is not None]
        right = sum(bool(s.prediction) for s in parsed)
        return {"accuracy": right / len(parsed) if parsed else float("nan"), "accuracy_chance": chance,
                "accuracy_itt": (right + chance * (len(samples) - len(parsed))) / len(samples) if samples else float("nan"),
                "coverage": len(parsed) / len(samples) if samples else 0.0, "n_prompts": float(n_prompts)}

    def _read(self, items: list[Item], where: int, reply: Response | LLMError, result: ScoreResult) -> ScoredSample:
        """The intruder's sample: `value` the chosen excerpt (1-based), `prediction` whether it was right."""
        sample = items[where].sample()
        if isinstance(reply, LLMError):
            return sample
        result.prompt_tokens += reply.prompt_tokens
        result.completion_tokens += reply.completion_tokens
        choice = parse_choice(reply.text, len(items))
        if choice is None:
            result.n_unparseable += 1
            return sample
        sample.value = float(choice)
        sample.prediction = choice == where + 1
        return sample
