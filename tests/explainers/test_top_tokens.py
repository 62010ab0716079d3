"""The top-tokens baseline explainer on a real cache through the real RecordBuilder: it names the
tokens a latent truly fires on (and a consistent preceding token), and a judge that applies the
explanation literally scores it near 1.0 while skill-less judges stay at chance."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import numpy as np
import pytest
from examples.examples_cache import write_cache
from scorers.judges import EXCERPT, HP, firing_tokens, news_tokens, token_latent_nonzeros

from autointerp.clients.base import Client, Response
from autointerp.examples import ExamplesConfig, RecordBuilder
from autointerp.explainers import ExplanationError, TopTokensExplainer
from autointerp.latents import CacheReader
from autointerp.metrics import aggregate
from autointerp.pipeline.shuffled import derangement
from autointerp.records import Latent, LatentRecord
from autointerp.scorers import DetectionScorer, FuzzScorer

CONFIG = ExamplesConfig(min_examples=40, n_examples_train=10, n_examples_test=30, n_non_activating=30,
                        example_ctx_len=32, n_quantiles=5)


@pytest.fixture(scope="module")
def tokenizer():
    from autointerp.models.subject import load_tokenizer

    return load_tokenizer("embedded:SmolLM2-135M-Instruct")


@pytest.fixture(scope="module")
def news(tokenizer):
    tokens = news_tokens(tokenizer)
    return tokens, firing_tokens(tokens, tokenizer)


def word(tokenizer, t: int) -> str:
    return tokenizer.decode([t]).strip()


def bigram(tokens: np.ndarray, tokenizer, avoid: set[int]) -> tuple[int, int]:
    """(p, t): a word t that follows many different tokens, and its most common predecessor p (a word)."""
    flat = tokens.reshape(-1)
    pairs = Counter(zip(flat[:-1].tolist(), flat[1:].tolist()))
    followers = Counter(t for (_, t) in pairs)
    for (p, t), n in pairs.most_common():
        if n >= 45 and t not in avoid and followers[t] >= 10 and word(tokenizer, t).isalpha() \
                and word(tokenizer, p).isalpha() and len(word(tokenizer, t)) > 2 and p != t:
            return p, t
    raise AssertionError("no usable bigram in the news text")


def build(tmp_path, tokens, tokenizer, nonzeros, d_sae) -> dict[int, LatentRecord]:
    reader = CacheReader(write_cache(tmp_path / "latents", tokens, {HP: nonzeros}, {HP: d_sae}))
    builder = RecordBuilder(reader, CONFIG, tokenizer)
    return {j: builder.build(Latent(HP, j)) for j in range(d_sae)}


def explain(record, tokenizer, **settings) -> str:
    explainer = TopTokensExplainer(**settings)
    explainer.bind(tokenizer=tokenizer, seed=0)
    return asyncio.run(explainer.explain(record, None)).text


def test_names_the_true_firing_tokens_and_a_consistent_preceding_token(tmp_path, tokenizer, news):
    tokens, chosen = news
    flat = tokens.reshape(-1)
    p, t = bigram(tokens, tokenizer, set(chosen[:3]))
    after_p = np.flatnonzero((flat[1:] == t) & (flat[:-1] == p)) + 1
    a, b = (np.flatnonzero(flat == chosen[i]) for i in (1, 2))
    index = np.concatenate([np.flatnonzero(flat == chosen[0]), a, b, after_p, np.flatnonzero(flat == t)])
    latent = np.concatenate([np.zeros(len(index) - len(a) - len(b) - len(after_p) - np.sum(flat == t), int),
                             np.ones(len(a) + len(b), int), np.full(len(after_p), 2), np.full(int(np.sum(flat == t)), 3)])
    value = np.concatenate([np.full(len(index) - len(a) - len(b) - len(after_p) - np.sum(flat == t), 2.0),
                            np.full(len(a), 3.0), np.full(len(b), 1.0), np.full(len(after_p), 2.0),
                            np.full(int(np.sum(flat == t)), 2.0)]).astype(np.float32)
    records = build(tmp_path, tokens, tokenizer, (index.astype(np.int64), latent.astype(np.int64), value), 4)
    assert all(r is not None for r in records.values())

    one = explain(records[0], tokenizer)
    assert one.startswith(f'token "{word(tokenizer, chosen[0])}"'), one
    two = explain(records[1], tokenizer)  # both tokens named, the heavier first
    first, second = word(tokenizer, chosen[1]), word(tokenizer, chosen[2])
    assert two.startswith("tokens ") and two.index(f'"{first}"') < two.index(f'"{second}"'), two
    assert explain(records[1], tokenizer, max_tokens=1).startswith(f'token "{first}"')
    context = explain(records[2], tokenizer)  # fires on t only after p: the predecessor is named
    assert context == f'token "{word(tokenizer, t)}" (after "{word(tokenizer, p)}")', context
    anywhere = explain(records[3], tokenizer)  # fires on t after many tokens: no predecessor named
    assert anywhere == f'token "{word(tokenizer, t)}"', anywhere


def test_settings_are_checked_and_a_silent_record_is_an_error():
    for bad in ({"max_tokens": 0}, {"mass": 0.0}, {"context_share": 1.5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TopTokensExplainer(**bad)
    from interp_fixtures import make_record

    record = make_record()
    for ex in record.train:
        ex.activations = np.zeros_like(ex.activations)
    with pytest.raises(ExplanationError, match="no activation"):
        asyncio.run(TopTokensExplainer().explain(record, None))


class LiteralJudge(Client):
    """Applies the explanation literally: an excerpt is a yes when it holds a quoted token of the
    explanation (fuzz: when every marked token is one of them). It never sees the cache."""

    model = "literal"

    async def generate(self, messages, **kwargs) -> Response:
        prompt = messages[-1]["content"]
        line = re.search(r"Explanation of the latent: (.*)", prompt).group(1)
        named = set(re.findall(r'"([^"]+)"', re.sub(r'\(after "[^"]*"\)', "", line)))
        return Response(text=str([int(self.verdict(text, named)) for text in EXCERPT.findall(prompt)]))

    @staticmethod
    def verdict(text: str, named: set[str]) -> bool:
        marks = [m.strip() for m in re.findall(r"<<(.*?)>>", text)]
        if marks:
            return all(m in named for m in marks)
        return any(w in named for w in re.findall(r"\w+", text))


class ConstantJudge(Client):
    """Says the same to every excerpt, whatever the explanation."""

    model = "constant"

    def __init__(self, answer: bool) -> None:
        self.answer = answer

    async def generate(self, messages, **kwargs) -> Response:
        return Response(text=str([int(self.answer)] * len(EXCERPT.findall(messages[-1]["content"]))))


@pytest.fixture(scope="module")
def world(tmp_path_factory, tokenizer, news):
    tokens, chosen = news
    records = build(tmp_path_factory.mktemp("top"), tokens, tokenizer, token_latent_nonzeros(tokens, chosen), len(chosen))
    records = [r for r in records.values() if r is not None]
    assert len(records) >= 8
    explainer = TopTokensExplainer()
    explainer.bind(tokenizer=tokenizer, seed=0)
    explanations = {r.latent: asyncio.run(explainer.explain(r, None)) for r in records}
    for r in records:  # it names the true word of each latent
        assert f'"{word(tokenizer, chosen[r.latent.index])}"' in explanations[r.latent].text
    return records, explanations


def scored(scorer, records, explanations, judge, partner=None):
    partner = partner or {}

    async def every():
        return await asyncio.gather(*(scorer.score(r, explanations[partner.get(r.latent, r.latent)], judge)
                                      for r in records))

    results = asyncio.run(every())
    assert all(r.error is None for r in results), [r.error for r in results]
    return results, aggregate(results, seed=1)[scorer.name]["metrics"]["balanced_accuracy"]


def test_a_judge_applying_top_tokens_scores_high_while_skill_less_judges_stay_at_chance(world, tokenizer):
    records, explanations = world
    for scorer in (DetectionScorer(), FuzzScorer()):
        scorer.bind(tokenizer=tokenizer, seed=0)
        _, literal = scored(scorer, records, explanations, LiteralJudge())
        assert literal["mean"] > 0.9, (scorer.name, literal)
        for answer in (True, False):
            results, _ = scored(scorer, records, explanations, ConstantJudge(answer))
            assert all(r.metrics["balanced_accuracy"] == 0.5 for r in results), (scorer.name, answer)
        partners = derangement([r.latent for r in records], seed=5)
        _, shuffled = scored(scorer, records, explanations, LiteralJudge(), partners)
        assert shuffled["ci_low"] <= 0.5 + 0.05 and shuffled["mean"] < 0.6, (scorer.name, shuffled)
