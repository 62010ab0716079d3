"""A hand-built latent record and scripted clients for the explainer and scorer tests.

The latent fires on the token " cat" (activation by quantile) and nowhere else, so a client that
reads the prompt can answer from the ground truth. Scripted clients are the right fake here: they
inject exact answers (truthful, always "no", garbage, failing) that a real model won't give on demand.
"""

from __future__ import annotations

import ast
import json
import math
import re

import numpy as np

from autointerp.clients.base import Client, LLMError, Response, TokenLogprob
from autointerp.records import ActivatingExample, Latent, LatentRecord, NonActivatingExample

CONCEPT = " cat"
SENTENCES = [
    "The cat sat on the warm mat today",
    "My old cat likes fish more than milk",
    "A small cat ran past the red door",
    "Her cat and my dog play all day",
    "We saw a cat near the quiet river",
    "That cat sleeps in the sunny window",
    "The black cat jumped over the fence",
    "His cat purrs when the rain starts",
    "Every cat in town knows this street",
    "Our cat hides under the big bed",
    "The tall cat watched a busy bird",
    "One cat waited by the kitchen door",
    "Some cat food spilled on the floor",
    "A lazy cat yawned at the morning sun",
    "The grey cat found a paper box",
    "Your cat stole my lunch again today",
]
PLAIN = [
    "The train left the station at noon",
    "Rain fell on the old stone bridge",
    "She wrote a letter to her brother",
    "We bought bread and cheese at market",
    "The river runs past the green hills",
    "He fixed the bike in the garage",
    "Music played softly in the hall",
    "The clock struck nine in the tower",
    "Children laughed in the school yard",
    "A boat drifted slowly down stream",
    "The lamp lit the narrow street",
    "They planted trees along the road",
    "Snow covered the roofs of town",
    "The baker opened his shop early",
]


def tokens_of(sentence: str) -> list[str]:
    """Word-level tokens, each with its leading space except the first."""
    words = sentence.split(" ")
    return [words[0]] + [" " + w for w in words[1:]]


def activating(sentence: str, row: int, role: str, quantile: int) -> ActivatingExample:
    """An example firing on ' cat' with strength falling by quantile (max 8.0 in quantile 0)."""
    toks = tokens_of(sentence)
    strength = 8.0 - 3.0 * quantile
    acts = np.array([strength if t == CONCEPT else 0.0 for t in toks], dtype=np.float32)
    normalized = np.round(10 * acts / 8.0).astype(np.int8)
    return ActivatingExample(row=row, start=0, tokens=np.arange(len(toks)) + 100, activations=acts, role=role,
                             str_tokens=toks, normalized=normalized, quantile=quantile)


def silent(sentence: str, row: int, role: str) -> NonActivatingExample:
    """An example in which the latent is zero everywhere."""
    toks = tokens_of(sentence)
    return NonActivatingExample(row=row, start=0, tokens=np.arange(len(toks)) + 200,
                                activations=np.zeros(len(toks), np.float32), role=role, str_tokens=toks)


def make_record() -> LatentRecord:
    """6 training, 10 test (quantiles 0-2), 4 explainer negatives, 10 scorer negatives; all rows distinct."""
    train = [activating(s, 10 + i, "train", i % 3) for i, s in enumerate(SENTENCES[:6])]
    test = [activating(s, 30 + i, "test", i % 3) for i, s in enumerate(SENTENCES[6:])]
    explainer_negatives = [silent(s, 50 + i, "explainer_negative") for i, s in enumerate(PLAIN[:4])]
    negatives = [silent(s, 70 + i, "negative") for i, s in enumerate(PLAIN[4:])]
    return LatentRecord(latent=Latent("layers.3", 7), train=train, test=test,
                        explainer_negatives=explainer_negatives, negatives=negatives, n_activating=16,
                        n_nonzero=16, firing_rate=0.01, mean_activation=5.0, max_activation=8.0,
                        top_output_tokens=[" meow", " kitten", " paws"])


def excerpts(prompt: str) -> list[str]:
    """The excerpt texts of a scorer prompt, in order."""
    return re.findall(r"^Excerpt \d+: (.*)$", prompt, flags=re.MULTILINE)


def unmarked(text: str) -> str:
    """An excerpt with its << >> marks removed."""
    return text.replace("<<", "").replace(">>", "")


def _verdict_tokens(verdicts: list[int], confidence: float) -> list[TokenLogprob]:
    """A reply '[1, 0, ...]' as tokens, each verdict with top alternatives 1 and 0."""
    toks = [TokenLogprob("[", 0.0)]
    for i, v in enumerate(verdicts):
        p = confidence if v else 1 - confidence
        space = "" if i == 0 else " "  # alternatives are spelled as the chosen token is (" 1" after a comma)
        top = {space + "1": math.log(p), space + "0": math.log(1 - p)}
        toks.append(TokenLogprob(space + str(v), top[space + str(v)], top))
        toks.append(TokenLogprob("," if i < len(verdicts) - 1 else "]", 0.0))
    return toks


class ScriptedClient(Client):
    """Answers every scorer and explainer prompt by a rule; records every chat it was sent."""

    model = "scripted"

    def __init__(self, mode: str = "truth", confidence: float = 0.9) -> None:
        """`mode`: truth (answers from the ground truth), no (always no), garbage, fail (LLMError)."""
        self.mode = mode
        self.confidence = confidence
        self.calls: list[dict] = []

    async def generate(self, messages, *, max_tokens=256, temperature=0.0, logprobs=False, top_logprobs=0,
                       response_format=None, sample=0) -> Response:
        """A reply computed from the prompt."""
        self.calls.append({"messages": messages, "max_tokens": max_tokens, "logprobs": logprobs,
                           "top_logprobs": top_logprobs, "temperature": temperature,
                           "response_format": response_format})
        reply = self._answer(messages, logprobs)
        if response_format is not None and self.mode in ("truth", "no"):  # the shape the schema asks for
            name = response_format["json_schema"]["name"]
            value = json.loads(reply.text) if name != "explanation" else reply.text.split(": ", 1)[1]
            key = {"verdicts": "answers", "choice": "odd_one_out", "explanation": "explanation"}.get(name)
            reply.text = json.dumps({key: value} if key else value)
            reply.logprobs = None
        return reply

    def _answer(self, messages, logprobs: bool) -> Response:
        """The reply in its free-text form."""
        if self.mode == "fail":
            raise LLMError("scripted failure")
        prompt = messages[-1]["content"]
        if self.mode == "garbage":
            return Response(text="I am not sure what you mean.", prompt_tokens=10, completion_tokens=7)
        if "Excerpt 1:" in prompt and "odd one out" in prompt:
            return self._intruder(prompt)
        if "numbered tokens" in prompt:
            return self._simulation(prompt)
        if "Excerpt 1:" in prompt and "JSON list" in prompt:
            return self._verdicts(prompt, logprobs)
        return Response(text="Explanation: the word cat", prompt_tokens=50, completion_tokens=5)

    def _verdicts(self, prompt: str, logprobs: bool) -> Response:
        """Detection and fuzz: 1 where the excerpt's cat is (correctly) in it."""
        texts = excerpts(prompt)
        if self.mode == "no":
            verdicts = [0] * len(texts)
        elif "<<" in prompt:  # fuzz: right when the marked tokens are exactly the cats
            verdicts = [int(re.findall(r"<<(.*?)>>", t) == [CONCEPT.strip()] * unmarked(t).count(CONCEPT)
                            and t.count("<<") > 0) for t in texts]
        else:
            verdicts = [int(CONCEPT in t) for t in texts]
        toks = _verdict_tokens(verdicts, self.confidence) if logprobs else None
        text = "".join(t.token for t in toks) if toks else json.dumps(verdicts)
        return Response(text=text, logprobs=toks, prompt_tokens=100, completion_tokens=2 * len(texts) + 1)

    def _intruder(self, prompt: str) -> Response:
        """The number of the excerpt without a cat."""
        texts = excerpts(prompt)
        answer = 1 if self.mode == "no" else next(i for i, t in enumerate(texts, 1) if CONCEPT not in unmarked(t))
        return Response(text=str(answer), prompt_tokens=80, completion_tokens=1)

    def _simulation(self, prompt: str) -> Response:
        """10 on each ' cat' token, 0 elsewhere."""
        rows = re.findall(r"^(\d+)\t(.*)$", prompt, flags=re.MULTILINE)
        values = {pos: (10 if ast.literal_eval(tok) == CONCEPT and self.mode == "truth" else 0) for pos, tok in rows}
        return Response(text=json.dumps(values), prompt_tokens=120, completion_tokens=4 * len(rows))
