"""Simulation: pooled correlation against a hand computation, logprob expected values, parsing."""

import asyncio
import json
import math
import re

import numpy as np
import pytest

from interp_fixtures import CONCEPT, ScriptedClient, make_record
from autointerp.clients.base import Response, TokenLogprob
from autointerp.records import Explanation
from autointerp.scorers import SimulationScorer


def score(client, scorer=None):
    record = make_record()
    explanation = Explanation(latent=record.latent, text="the word cat", explainer="default")
    return record, asyncio.run((scorer or SimulationScorer()).score(record, explanation, client))


def test_truthful_simulation_matches_a_hand_computed_pooled_correlation():
    record, result = score(ScriptedClient("truth"))
    # by hand: predictions are 10 on each " cat" token; the truth is the raw activation of the cache
    pred, true = [], []
    for ex in record.test + record.negatives:
        pred += [10.0 if t == CONCEPT else 0.0 for t in ex.str_tokens]
        true += list(np.asarray(ex.activations, float))
    assert result.metrics["correlation"] == pytest.approx(np.corrcoef(pred, true)[0, 1])
    assert 0.8 < result.metrics["correlation"] < 1.0  # quantiles differ in strength; predictions do not
    for q in (0, 1, 2):  # within a quantile all activations are equal, so the fit is perfect
        assert result.metrics[f"correlation_q{q}"] == pytest.approx(1.0)
    assert len(result.samples) == 20 and result.n_unparseable == 0


def test_pooled_is_not_the_mean_of_per_sequence_correlations():
    record, result = score(ScriptedClient("truth"))
    per_seq = [np.corrcoef(s.predicted_activations, s.true_activations)[0, 1] for s in result.samples if s.activating]
    assert np.mean(per_seq) == pytest.approx(1.0)
    assert result.metrics["correlation"] < 0.99


def test_constant_predictions_score_zero_not_nan():
    _, result = score(ScriptedClient("no"))  # all zeros: no information, and the latent stays in the mean
    assert result.metrics["correlation"] == 0.0 and result.metrics["coverage"] == 1.0


def test_weak_windows_keep_their_signal():
    """A window whose activations round to 0 of 10 still correlates (the truth is raw, not rounded)."""
    record = make_record()
    for ex in record.test:
        ex.activations = ex.activations / 100  # all below 0.5 / 10 of the cache maximum of 8
    explanation = Explanation(latent=record.latent, text="the word cat", explainer="default")
    result = asyncio.run(SimulationScorer().score(record, explanation, ScriptedClient("truth")))
    assert result.metrics["correlation"] > 0.8


class ExpectedValueClient(ScriptedClient):
    """Replies with a JSON object whose value tokens carry digit alternatives."""

    async def generate(self, messages, **kwargs):
        self.calls.append({"messages": messages, **kwargs})
        prompt = messages[-1]["content"]
        n = len(re.findall(r"^\d+\t", prompt, flags=re.MULTILINE))  # one listed token per line
        toks = [TokenLogprob("{", 0.0)]
        for pos in range(n):
            top = {"8": math.log(0.5), "4": math.log(0.25), "0": math.log(0.25)}
            toks += [TokenLogprob(("" if pos == 0 else ", ") + f'"{pos}": ', 0.0), TokenLogprob("8", top["8"], top)]
        toks.append(TokenLogprob("}", 0.0))
        text = "".join(t.token for t in toks)
        assert json.loads(text)
        return Response(text=text, logprobs=toks if kwargs.get("logprobs") else None)


def test_log_probs_turn_values_into_expected_values():
    _, result = score(ExpectedValueClient(), SimulationScorer(log_probs=True))
    assert result.n_unparseable == 0
    for s in result.samples:
        assert s.predicted_activations == pytest.approx([0.5 * 8 + 0.25 * 4] * len(s.true_activations))
    _, plain = score(ExpectedValueClient(), SimulationScorer(log_probs=False))
    assert all(v == 8.0 for s in plain.samples for v in s.predicted_activations)


def test_prompt_lists_every_token_with_its_position():
    client = ScriptedClient("truth")
    score(client)
    first = client.calls[0]["messages"][-1]["content"]
    assert "0\t'The'\n1\t' black'\n2\t' cat'\n" in first
    assert len(client.calls) == 20  # one prompt per excerpt
