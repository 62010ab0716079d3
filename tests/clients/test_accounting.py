"""Token accounting per stage, prices, budgets."""

from __future__ import annotations

import asyncio
import logging

import pytest

from autointerp.clients import Accounting, OpenAICompatibleClient, usage_stage


def test_sums_per_stage_match_the_server_usage(faults, tmp_path):
    accounting = Accounting(prices={"fake": (2.0, 10.0)})
    client = OpenAICompatibleClient("fake", faults.url, cache_path=str(tmp_path / "c.sqlite"), accounting=accounting)
    prompts = {"explain": ["ok one two", "ok three"], "score/detection": ["ok a b c d", "ok e", "ok f g"]}

    async def stage(name, items):
        with usage_stage(name):
            return await asyncio.gather(*(client.generate([{"role": "user", "content": p}]) for p in items))

    async def go():
        results = await asyncio.gather(*(stage(n, items) for n, items in prompts.items()))
        again = await stage("explain", prompts["explain"])  # cache hits: counted apart, free
        await client.close()
        return results, again

    (explained, scored), again = asyncio.run(go())
    usage = accounting.by_stage()
    for name, responses in (("explain", explained), ("score/detection", scored)):
        assert usage[name].calls == len(responses)
        assert usage[name].prompt_tokens == sum(len(p.split()) for p in prompts[name])  # the server's count
        assert usage[name].completion_tokens == sum(r.completion_tokens for r in responses)
    assert usage["explain"].cached_calls == 2 and all(r.cached for r in again)
    total = accounting.total()
    assert total.calls == 5 and total.cached_calls == 2
    expected = sum(r.prompt_tokens * 2.0 + r.completion_tokens * 10.0 for r in explained + scored) / 1e6
    assert total.cost_usd == pytest.approx(expected)
    assert accounting.summary()["llm/score/detection/calls"] == 3


def test_token_budget_stops_and_says_so(caplog):
    accounting = Accounting(budget_tokens=100)
    accounting.record("m", 40, 10, cached=False)
    assert not accounting.budget_exhausted
    accounting.record("m", 400, 400, cached=True)  # cached calls cost nothing
    assert not accounting.budget_exhausted
    with caplog.at_level(logging.WARNING):
        accounting.record("m", 40, 10, cached=False)
    assert accounting.budget_exhausted and accounting.spent_tokens == 100
    assert "budget spent" in caplog.text


def test_usd_budget_uses_the_price_table():
    accounting = Accounting(prices={"m": (1.0, 3.0)}, budget_usd=0.01)
    accounting.record("m", 1000, 2000, cached=False)  # 0.001 + 0.006
    assert accounting.spent_usd == pytest.approx(0.007) and not accounting.budget_exhausted
    accounting.record("other", 10**6, 10**6, cached=False)  # not in the table: no estimate
    assert accounting.spent_usd == pytest.approx(0.007)
    accounting.record("m", 1000, 1000, cached=False)
    assert accounting.budget_exhausted


def test_bad_budgets_name_the_setting():
    with pytest.raises(ValueError, match="budget_usd needs a price table"):
        Accounting(budget_usd=1.0)
    with pytest.raises(ValueError, match="budget_tokens"):
        Accounting(budget_tokens=-1)
