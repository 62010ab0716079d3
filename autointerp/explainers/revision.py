"""Revision from mistakes: an explanation, the examples a scorer got wrong with it, and a better one back.

The pipeline's selection loop decides which examples are mistakes (select split only) and whether
the revision is kept; this module only writes the prompt and reads the reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autointerp.clients.base import Client, Message
from autointerp.explainers import prompts
from autointerp.explainers.default import parse_explanation
from autointerp.prompting import example_tokens, explanation_format, mark, marked_positions, render
from autointerp.records import ActivatingExample, Example, Explanation, LatentRecord


def revision_messages(explanation: str, missed: Sequence[ActivatingExample], false_alarms: Sequence[Example],
                      tokenizer: Any = None) -> list[Message]:
    """The chat asking for a revision: missed examples with their active tokens marked, false alarms unmarked."""
    missed_text = "".join(f"Missed {i}: {mark(example_tokens(ex, tokenizer), marked_positions(ex))}\n"
                          for i, ex in enumerate(missed, 1))
    alarms_text = "".join(f"False alarm {i}: {''.join(example_tokens(ex, tokenizer))}\n"
                          for i, ex in enumerate(false_alarms, 1))
    user = render(
        prompts.REVISION,
        explanation=explanation,
        missed=render(prompts.MISSED, examples=missed_text) if missed else "",
        false_alarms=render(prompts.FALSE_ALARMS, examples=alarms_text) if false_alarms else "",
    )
    return [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": user}]


async def revise(explainer: Any, record: LatentRecord, explanation: Explanation, missed: Sequence[ActivatingExample],
                 false_alarms: Sequence[Example], client: Client) -> Explanation:
    """Ask for a revised explanation with the explainer's settings (tokens, temperature, structured replies);
    raises ExplanationError when the reply holds none."""
    messages = revision_messages(explanation.text, missed, false_alarms, getattr(explainer, "tokenizer", None))
    structured = bool(getattr(explainer, "structured", False))
    response = await client.generate(messages, max_tokens=getattr(explainer, "max_tokens", 256),
                                     temperature=getattr(explainer, "temperature", 0.0),
                                     response_format=explanation_format(reasoning=False) if structured else None)
    return Explanation(latent=record.latent, text=parse_explanation(response.text, require_marker=False),
                       explainer=f"{explanation.explainer}+revision", model=getattr(client, "model", ""),
                       raw_response=response.text, prompt_tokens=response.prompt_tokens,
                       completion_tokens=response.completion_tokens)
