"""The exact messages each LLM scorer sends for the fixed record (AUTOINTERP_REGEN_GOLDEN=1 rewrites)."""

import asyncio
from pathlib import Path

import pytest

from golden import check_golden
from interp_fixtures import ScriptedClient, make_record
from autointerp.records import Explanation
from autointerp.scorers import DetectionScorer, FuzzScorer, IntruderScorer, RecallScorer, SimulationScorer

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name, scorer, n_calls", [
    ("detection", DetectionScorer(), 4),
    ("recall", RecallScorer(), 4),
    ("fuzz", FuzzScorer(), 6),
    ("intruder", IntruderScorer(), 2),
    ("simulation", SimulationScorer(), 20),
])
def test_golden_scorer_prompts(name, scorer, n_calls):
    record = make_record()
    client = ScriptedClient("truth")
    explanation = Explanation(latent=record.latent, text="the word cat", explainer="default")
    asyncio.run(scorer.score(record, explanation, client))
    assert len(client.calls) == n_calls
    calls = client.calls if name != "simulation" else client.calls[:1] + client.calls[-1:]
    check_golden(GOLDEN / f"{name}.json", [{"messages": c["messages"], "max_tokens": c["max_tokens"],
                                            "logprobs": c["logprobs"]} for c in calls])
