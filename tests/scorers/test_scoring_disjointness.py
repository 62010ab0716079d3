"""No training example of a latent reaches its scorers, and no explainer negative reaches them either,
checked through the prompts actually sent."""

import asyncio

import pytest

from interp_fixtures import ScriptedClient, make_record, unmarked
from autointerp.explainers import ContrastiveExplainer
from autointerp.records import Explanation
from autointerp.scorers import DetectionScorer, FuzzScorer, IntruderScorer, RecallScorer, SimulationScorer


def sent_texts(client):
    """Every prompt the client received, marks removed."""
    return [unmarked(m["content"]) for call in client.calls for m in call["messages"]]


@pytest.mark.parametrize("scorer", [DetectionScorer(), RecallScorer(), FuzzScorer(), IntruderScorer(),
                                    SimulationScorer()])
def test_scorer_prompts_hold_no_training_example_and_no_explainer_negative(scorer):
    record = make_record()
    client = ScriptedClient("truth")
    explanation = Explanation(latent=record.latent, text="the word cat", explainer="default")
    asyncio.run(scorer.score(record, explanation, client))
    prompts = "\n".join(sent_texts(client))
    if isinstance(scorer, SimulationScorer):  # tokens are listed one per line there
        prompts = prompts.replace("'\n", "").replace("\t'", "")
        needles = lambda ex: "".join(f"{i}{t}" for i, t in enumerate(ex.str_tokens))
    elif isinstance(scorer, FuzzScorer):  # fuzz shows a crop of each window: look for its middle
        needles = lambda ex: "".join(ex.str_tokens[2:-2])
    else:
        needles = lambda ex: "".join(ex.str_tokens)
    for ex in record.train + record.explainer_negatives:
        assert needles(ex) not in prompts, f"{ex.role} example at row {ex.row} reached {scorer.name}"
    used = [ex for ex in record.test + record.negatives if needles(ex) in prompts]
    assert used, "the check must see the scorer's own examples"


def test_contrastive_explainer_negatives_never_reach_scorers():
    record = make_record()
    explainer_client, scorer_client = ScriptedClient("truth"), ScriptedClient("truth")
    explanation = asyncio.run(ContrastiveExplainer().explain(record, explainer_client))
    asyncio.run(DetectionScorer().score(record, explanation, scorer_client))
    shown = "\n".join(sent_texts(explainer_client))
    scored = "\n".join(sent_texts(scorer_client))
    for ex in record.explainer_negatives:
        text = "".join(ex.str_tokens)
        assert text in shown and text not in scored
    for ex in record.negatives:
        text = "".join(ex.str_tokens)
        assert text in scored and text not in shown
