"""Steering: output-side scoring. Amplify the latent while the subject model writes; can the judge tell, given the explanation?

For each latent, the subject model continues `n_prompts` neutral prompts (the run's own text, held
apart from every window of the latent's record; see `steering_prompts`) greedily, unsteered and
steered with `alpha x decoder row` at the hookpoint, for `alpha = strength x` the latent's typical
activation (`typical_activation`: the median peak of its examples) at each of `strengths`. The
strength used is the largest that changed at least `min_changed` of the continuations and kept
them fluent (`pick_strength`); it is chosen without the judge, so it cannot be tuned to the score.

Variant `pair`: for each changed prompt the judge sees the explanation and both continuations, in a
seeded, balanced order, and names the steered one (chance 1/2). Variant `explanations`: the judge
sees the unsteered and steered continuations and picks the latent's explanation among
`n_explanations` explanations of the run (chance 1/k). Metrics: accuracy with its chance level and
Wilson 95% interval, the strength and alpha used, the fraction changed, generation seconds and
tokens, and the judge-free `names_output_token`: does the explanation name one of the record's
logit-lens tokens. Every continuation at every strength is written in the samples' `texts`.

The subject model loads once per run, on the first latent scored (`bind_run` tells the scorer
which model, coders and text the run has); nothing loads when this scorer is not configured.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autointerp.clients.base import Client, LLMError, Response
from autointerp.metrics.intervals import wilson_interval
from autointerp.prompting import choice_format, load_template, render
from autointerp.records import Explanation, Latent, LatentRecord, ScoredSample, ScoreResult
from autointerp.scorers import steering_prompts as sp
from autointerp.scorers.base import Scorer
from autointerp.scorers.classifier import ask, latent_rng
from autointerp.scorers.parsing import parse_choice

logger = logging.getLogger(__name__)

VARIANTS = ("pair", "explanations")
_SHARED: dict[tuple, Any] = {}
"""Loaded steerers by (model, sparse model, hookpoints, device, dtype): one per process, whatever the scorers."""
_SHARED_LOCK = threading.Lock()
_GENERATE_LOCK = threading.Lock()
"""One latent generates at a time: the steering hook sits on a model the scorers share."""


@dataclass
class Generated:
    """One latent's continuations: token ids per prompt, unsteered and per strength tried."""

    rows: list[int]
    prompts: list[list[int]]
    unsteered: list[list[int]]
    steered: dict[float, list[list[int]]] = field(default_factory=dict)
    strength: float = math.nan
    alpha: float = math.nan
    seconds: float = 0.0
    """Seconds this latent's generation took (the unsteered continuations only when not shared)."""
    tokens: int = 0
    """Tokens generated for this latent (likewise)."""

    def changed(self, strength: float) -> list[bool]:
        """Per prompt: does the continuation at `strength` differ from the unsteered one?"""
        return [a != b for a, b in zip(self.steered[strength], self.unsteered)]


def typical_activation(record: LatentRecord) -> float:
    """The median of the record's activating examples' peaks (train and test), else its largest
    activation, else 1: robust to the few huge values a latent may take at a row's first position."""
    import statistics

    peaks = [ex.max_activation for ex in (*record.train, *record.test) if ex.max_activation > 0]
    if peaks:
        return float(statistics.median(peaks))
    return record.max_activation if record.max_activation > 0 else 1.0


class SteeringScorer(Scorer):
    """Steers the subject model with the latent and asks the judge which continuation it shaped."""

    name = "steering"
    reads_only_examples = False  # it steers with the decoder row

    def __init__(self, *, variant: str = "pair", n_prompts: int = 8, prompt_tokens: int = 16, new_tokens: int = 16,
                 strengths: list[float] | None = None, min_changed: float = 0.5, min_fluency: float = 0.75, n_explanations: int = 4,
                 device: str = "auto", dtype: str | None = None, batch_size: int = 16, seed: int | None = None,
                 tokenizer: Any = None, steerer: Any = None, prompt_template: str | None = None,
                 max_tokens: int = 16, temperature: float = 0.0, structured: bool = False,
                 name: str | None = None) -> None:
        """Settings only; the model loads on first use (or pass a loaded `autointerp.models.steer.Steerer`).

        strengths: multiples of the latent's typical activation (`typical_activation`), tried smallest first
        (default [4, 8, 16]; all are generated, `pick_strength` chooses one); device: `auto` (CUDA when visible), `cpu`, `cuda:0`, ...; dtype: the
        subject model's dtype on load (None: float32); name: where results go (default `steering`,
        `steering_explanations` for that variant)."""
        strengths = [4.0, 8.0, 16.0] if strengths is None else [float(s) for s in strengths]
        if variant not in VARIANTS:
            raise ValueError(f"steering variant: {variant!r} is not one of {VARIANTS}")
        for setting, value, low in (("n_prompts", n_prompts, 1), ("prompt_tokens", prompt_tokens, 1),
                                    ("new_tokens", new_tokens, 1), ("batch_size", batch_size, 1),
                                    ("n_explanations", n_explanations, 2)):
            if value < low:
                raise ValueError(f"steering {setting}: must be at least {low}, got {value}")
        if not strengths or any(s < 0 or not math.isfinite(s) for s in strengths):
            raise ValueError(f"steering strengths: need finite values >= 0, got {strengths}")
        for setting, value in (("min_changed", min_changed), ("min_fluency", min_fluency)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"steering {setting}: must lie in [0, 1], got {value}")
        self.name = name or ("steering" if variant == "pair" else "steering_explanations")
        self.variant, self.n_prompts, self.prompt_tokens, self.new_tokens = variant, n_prompts, prompt_tokens, new_tokens
        self.strengths, self.min_changed, self.min_fluency = sorted(strengths), min_changed, min_fluency
        self.n_explanations = n_explanations
        self.device, self.dtype, self.batch_size, self.seed, self.tokenizer = device, dtype, batch_size, seed, tokenizer
        self.max_tokens, self.temperature, self.structured = max_tokens, temperature, structured
        fields = sp.PAIR_FIELDS if variant == "pair" else sp.CHOICE_FIELDS
        self.template = load_template(prompt_template, sp.PAIR if variant == "pair" else sp.CHOICE, fields,
                                      "prompt_template")
        self.steerer = steerer
        self.run: dict[str, Any] = {}
        self._unsteered: dict[tuple, list[list[int]]] = {}
        self._pool: dict[Latent, str] = {}
        self._generated: dict[Latent, Generated] = {}

    def bind_run(self, *, model: str, sparse_model: str, hookpoints: list[str], tokens: Any,
                 explanations: Callable[[], dict[Latent, str]] | None = None) -> None:
        """What the run has (the interpret stage calls this once): its subject model and sparse
        model names, hookpoints, cached token rows int [rows, ctx_len] and its explanations so far."""
        self.run = {"model": model, "sparse_model": sparse_model, "hookpoints": list(hookpoints), "tokens": tokens,
                    "explanations": explanations}

    def _steerer(self) -> Any:
        """The loaded `Steerer` (loaded here the first time; the caller holds the lock)."""
        if self.steerer is None:
            from autointerp.models.steer import load_steerer

            if not self.run:
                raise ValueError("steering: no run bound (bind_run) and no steerer given")
            key = (self.run["model"], self.run["sparse_model"], tuple(self.run["hookpoints"]), self.device, self.dtype)
            with _SHARED_LOCK:  # both variants in one run share one loaded model
                if key not in _SHARED:
                    _SHARED[key] = load_steerer(*key[:2], list(key[2]), device=self.device, dtype=self.dtype)
            self.steerer = _SHARED[key]
        return self.steerer

    def prompt_rows(self, record: LatentRecord) -> list[int]:
        """The rows whose first `prompt_tokens` tokens are this latent's prompts (held apart from its record)."""
        tokens = self.run.get("tokens")
        if tokens is None:
            raise ValueError("steering: the run's token rows are not bound (bind_run)")
        pool = sp.candidate_rows(len(tokens), 4 * self.n_prompts + 32, 22 if self.seed is None else self.seed)
        return sp.held_apart(pool, record, self.prompt_tokens, self.n_prompts)

    def generate(self, record: LatentRecord) -> Generated:
        """Unsteered and steered continuations of the latent's prompts (blocking: run it in a thread)."""
        if record.latent in self._generated:  # the shuffled control scores the same continuations again
            return self._generated[record.latent]
        rows = self.prompt_rows(record)
        prompts = [[int(t) for t in self.run["tokens"][row][: self.prompt_tokens]] for row in rows]
        with _GENERATE_LOCK:
            start = time.perf_counter()
            steerer = self._steerer()
            key = tuple(map(tuple, prompts))
            fresh = key not in self._unsteered
            if fresh:  # most latents share one prompt set: continue it once
                self._unsteered[key] = steerer.generate(prompts, self.new_tokens, batch_size=self.batch_size)
            out = Generated(rows, prompts, self._unsteered[key])
            typical = typical_activation(record)
            hp, index = record.latent.hookpoint, record.latent.index
            for strength in self.strengths:
                delta = steerer.deltas(hp, index, [strength * typical] * len(prompts))
                out.steered[strength] = steerer.generate(prompts, self.new_tokens, hp, delta, self.batch_size)
            out.strength = self.pick_strength(out)
            out.alpha = out.strength * typical
            out.seconds = time.perf_counter() - start
        out.tokens = sum(len(c) for cs in out.steered.values() for c in cs)  # generated for this latent
        out.tokens += sum(len(c) for c in out.unsteered) if fresh else 0
        self._generated[record.latent] = out
        return out

    def pick_strength(self, gen: Generated) -> float:
        """The largest strength that changed at least `min_changed` of the continuations while keeping them
        fluent (their share of distinct tokens at least `min_fluency` of the unsteered ones': strong
        steering degenerates into `the the the`); the smallest strength when none qualifies."""
        fluent = self.min_fluency * sp.distinct_share(gen.unsteered)
        ok = [s for s in self.strengths if sum(gen.changed(s)) >= self.min_changed * len(gen.rows)
              and sp.distinct_share(gen.steered[s]) >= fluent]
        return max(ok) if ok else self.strengths[0]

    async def score(self, record: LatentRecord, explanation: Explanation | None, client: Client) -> ScoreResult:
        """Generate (in a thread), then ask the judge about every prompt whose continuation changed."""
        text = explanation.text if explanation is not None else ""
        result = ScoreResult(latent=record.latent, scorer=self.name, explanation=explanation.text if explanation else None)
        if not self.prompt_rows(record):
            result.error = "skipped: no prompt row is held apart from the latent's examples"
            return result
        gen = await asyncio.to_thread(self.generate, record)
        result.samples = samples = self._samples(gen)
        judged = [i for i, s in enumerate(samples) if s.kind == self.variant]
        answers, options = self._answers(record, text, judged)
        n_options = 2 if self.variant == "pair" else len(next(iter(options.values()), []))
        if judged and not answers:
            result.error = "too few explanations in the run to choose among yet (needs another latent's)"
            return result
        chats = [self._messages(samples[i], text, answers[i], options.get(i)) for i in judged]
        format_ = choice_format(n_options) if self.structured and judged else None
        replies = await asyncio.gather(*(ask(client, chat, max_tokens=self.max_tokens, temperature=self.temperature,
                                             response_format=format_) for chat in chats))
        for i, reply in zip(judged, replies):
            self._read(samples[i], n_options, reply, result)
        result.metrics = self.metrics(samples, gen, record, text, max(n_options, 2))
        if not judged:
            result.error = f"skipped: steering changed no continuation at strengths {self.strengths}"
        elif all(isinstance(r, LLMError) for r in replies):
            result.error = f"all {len(replies)} prompts failed: {replies[0]}"
        return result

    def _samples(self, gen: Generated) -> list[ScoredSample]:
        """One sample per prompt, with the prompt and every continuation as text; `kind` is the
        variant when the continuation at the strength used changed (it is judged), else `unchanged`."""
        decode = self._decode
        changed = gen.changed(gen.strength)
        samples = []
        for i, row in enumerate(gen.rows):
            texts = {"prompt": decode(gen.prompts[i]), "unsteered": decode(gen.unsteered[i]),
                     "steered": decode(gen.steered[gen.strength][i]), "strength": gen.strength, "alpha": gen.alpha,
                     "by_strength": {str(s): decode(c[i]) for s, c in gen.steered.items()}}
            samples.append(ScoredSample(row=row, start=0, role="steering_prompt", activating=True,
                                        kind=self.variant if changed[i] else "unchanged", texts=texts))
        return samples

    def _decode(self, ids: list[int]) -> str:
        """Text of token ids: with the run's tokenizer, else the subject model's own."""
        tokenizer = self.tokenizer or getattr(self.steerer, "tokenizer", None)
        if tokenizer is None:
            raise ValueError("steering: no tokenizer to decode continuations (the run binds its own)")
        return tokenizer.decode(ids)

    def _answers(self, record: LatentRecord, text: str, judged: list[int]) -> tuple[dict[int, int], dict[int, list[str]]]:
        """({sample: 0-based position of the right option}, {sample: explanations shown} for the explanations variant)."""
        rng = latent_rng(self.seed, record)
        if self.variant == "pair":
            return dict(zip(judged, sp.balanced_positions(len(judged), 2, rng))), {}
        found = self._explanation_pool()
        others = sorted({t for lt, t in found.items() if lt != record.latent and t and t != text})
        if not others:
            return {}, {}
        k = min(self.n_explanations, len(others) + 1)
        answers = dict(zip(judged, sp.balanced_positions(len(judged), k, rng)))
        options = {}
        for i in judged:
            shown = rng.sample(others, k - 1)
            shown.insert(answers[i], text)
            options[i] = shown
        return answers, options

    def _explanation_pool(self) -> dict[Latent, str]:
        """The run's explanations, read again only while fewer than 4 x n_explanations were found (a run
        writes them as it goes; rereading every file for every latent would cost a file read per latent pair)."""
        pool = self.run.get("explanations")
        if callable(pool) and len(self._pool) < 4 * self.n_explanations:
            self._pool = pool()
        return self._pool

    def _messages(self, sample: ScoredSample, explanation: str, answer: int, options: list[str] | None) -> list[dict]:
        """The chat for one judged prompt; the right answer (1-based) and what was shown go into the sample's texts."""
        t = sample.texts
        t["answer"] = answer + 1
        if options is None:
            first, second = (t["steered"], t["unsteered"]) if answer == 0 else (t["unsteered"], t["steered"])
            user = render(self.template, explanation=explanation, prompt=sp.one_line(t["prompt"]),
                          first=sp.one_line(first), second=sp.one_line(second))
        else:
            t["options"] = options
            listed = "".join(f"{j}. {o}\n" for j, o in enumerate(options, 1))
            user = render(self.template, prompt=sp.one_line(t["prompt"]), unsteered=sp.one_line(t["unsteered"]),
                          steered=sp.one_line(t["steered"]), options=listed, n=str(len(options)))
        return [{"role": "system", "content": sp.SYSTEM}, {"role": "user", "content": user}]

    def _read(self, sample: ScoredSample, n_options: int, reply: Response | LLMError, result: ScoreResult) -> None:
        """`value`: the option the judge named (1-based); `prediction`: whether it is the right one."""
        if isinstance(reply, LLMError):
            return
        result.prompt_tokens += reply.prompt_tokens
        result.completion_tokens += reply.completion_tokens
        sample.texts["reply"] = reply.text
        choice = parse_choice(reply.text, n_options)
        if choice is None:
            result.n_unparseable += 1
            return
        sample.value = float(choice)
        sample.prediction = choice == sample.texts["answer"]

    def metrics(self, samples: list[ScoredSample], gen: Generated, record: LatentRecord, explanation: str,
                n_options: int) -> dict[str, float]:
        """Accuracy over answered prompts (chance, Wilson interval, counted at chance when unanswered),
        the strength used, and the costs and judge-free signal of this latent."""
        judged = [s for s in samples if s.kind == self.variant]
        parsed = [s for s in judged if s.prediction is not None]
        right = sum(bool(s.prediction) for s in parsed)
        chance = 1.0 / n_options
        low, high = wilson_interval(right, len(parsed))
        lens = record.top_output_tokens
        return {
            "accuracy": right / len(parsed) if parsed else math.nan, "accuracy_chance": chance,
            "accuracy_itt": (right + chance * (len(judged) - len(parsed))) / len(judged) if judged else math.nan,
            "accuracy_ci_low": low, "accuracy_ci_high": high,
            "coverage": len(parsed) / len(judged) if judged else 0.0, "n_judged": float(len(judged)),
            "n_prompts": float(len(samples)), "changed": len(judged) / len(samples) if samples else math.nan,
            "strength": gen.strength, "alpha": gen.alpha, "generation_s": gen.seconds,
            "generated_tokens": float(gen.tokens),
            "names_output_token": float(bool(sp.named_output_tokens(explanation, lens))) if lens else math.nan,
        }
