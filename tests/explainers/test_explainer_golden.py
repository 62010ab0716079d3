"""The exact messages each explainer sends for the fixed record (AUTOINTERP_REGEN_GOLDEN=1 rewrites)."""

import asyncio
from pathlib import Path

import pytest

from golden import check_golden
from interp_fixtures import ScriptedClient, make_record
from autointerp.explainers import ChainOfThoughtExplainer, ContrastiveExplainer, DefaultExplainer

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name, explainer", [
    ("default", DefaultExplainer()),
    ("default_activations_output", DefaultExplainer(show_activations=True, output=True)),
    ("contrastive", ContrastiveExplainer()),
    ("chain_of_thought", ChainOfThoughtExplainer()),
])
def test_golden_explainer_prompt(name, explainer):
    client = ScriptedClient("truth")
    asyncio.run(explainer.explain(make_record(), client))
    (call,) = client.calls
    check_golden(GOLDEN / f"{name}.json", {"messages": call["messages"], "max_tokens": call["max_tokens"],
                                           "temperature": call["temperature"]})
