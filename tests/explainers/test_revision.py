"""The revision prompt: missed examples marked where the latent fires, false alarms unmarked, the
explainer's settings on the request, and an unusable reply an error (never an explanation)."""

from __future__ import annotations

import asyncio

import pytest

from autointerp.clients.base import Response
from autointerp.explainers import DefaultExplainer
from autointerp.explainers.base import ExplanationError
from autointerp.explainers.revision import revise, revision_messages
from autointerp.records import Explanation
from interp_fixtures import make_record


class Replies:
    model = "scripted"

    def __init__(self, text: str) -> None:
        self.text, self.calls = text, []

    async def generate(self, messages, **settings):
        self.calls.append({"messages": messages, **settings})
        return Response(text=self.text, prompt_tokens=40, completion_tokens=6)


def test_missed_examples_are_marked_and_false_alarms_are_not():
    record = make_record()
    user = revision_messages("animals", record.test[:2], record.negatives[:1])[-1]["content"]
    assert 'reads: "animals"' in user
    assert "Missed 1: The black <<cat>> jumped over the fence" in user
    assert "Missed 2: His <<cat>> purrs when the rain starts" in user
    assert "False alarm 1: The river runs past the green hills" in user
    assert "Missed 3" not in user and "False alarm 2" not in user
    only_alarms = revision_messages("animals", [], record.negatives[:1])[-1]["content"]
    assert "IS active" not in only_alarms and "NOT active" in only_alarms


def test_a_revision_uses_the_explainer_settings_and_parses_the_reply():
    record = make_record()
    explainer = DefaultExplainer(max_tokens=77, temperature=0.3, structured=True)
    client = Replies('{"explanation": "the word cat"}')
    old = Explanation(record.latent, "animals", "default")
    new = asyncio.run(revise(explainer, record, old, record.test[:1], [], client))
    assert new.text == "the word cat" and new.explainer == "default+revision" and new.prompt_tokens == 40
    call = client.calls[0]
    assert (call["max_tokens"], call["temperature"]) == (77, 0.3)
    assert call["response_format"]["json_schema"]["name"] == "explanation"


def test_an_unusable_revision_raises():
    record = make_record()
    client = Replies("I am not sure.\nMaybe cats?")
    with pytest.raises(ExplanationError):
        asyncio.run(revise(DefaultExplainer(), record, Explanation(record.latent, "x", "default"), record.test[:1], [], client))
