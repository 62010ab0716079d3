"""The vLLM engine's own logic on a CPU: settings -> one SamplingParams per request, outputs -> Responses.

vllm itself needs CUDA, so a stand-in module records what the engine hands to `vllm.LLM.generate`
(its shapes follow vLLM's documented RequestOutput / CompletionOutput / Logprob). The GPU test in
test_offline.py runs the real thing where vllm is installed.
"""

from __future__ import annotations

import asyncio
import sys
import types
from dataclasses import dataclass

import pytest
import torch

from autointerp.clients import LLMRequestError, OfflineClient


@dataclass
class Logprob:
    logprob: float
    rank: int | None
    decoded_token: str | None


@dataclass
class StructuredOutputsParams:
    json: dict | None = None
    json_object: bool | None = None


@dataclass
class SamplingParams:
    max_tokens: int
    temperature: float
    seed: int
    logprobs: int | None = None
    structured_outputs: StructuredOutputsParams | None = None


class FakeLLM:
    """Records each `generate` call; `last` is the most recent instance."""

    last: FakeLLM | None = None

    def __init__(self, model: str, **kwargs):
        self.model, self.kwargs, self.calls = model, kwargs, []
        FakeLLM.last = self
        self.llm_engine = types.SimpleNamespace(model_config=types.SimpleNamespace(max_model_len=64))

    def get_tokenizer(self):
        return Tokenizer()

    def generate(self, prompts, sampling_params, use_tqdm):
        self.calls.append((prompts, sampling_params))
        outputs = []
        for prompt, params in zip(prompts, sampling_params):
            ids = list(range(params.max_tokens))
            logprobs = [{i: Logprob(-0.1 * (i + 1), 1, f"t{i}"), 99: Logprob(-3.0, 2, "x")} for i in ids]
            completion = types.SimpleNamespace(text=" ".join(f"t{i}" for i in ids), token_ids=ids,
                                               logprobs=logprobs if params.logprobs is not None else None)
            outputs.append(types.SimpleNamespace(prompt_token_ids=prompt["prompt_token_ids"], outputs=[completion]))
        return outputs


class Tokenizer:
    def apply_chat_template(self, messages, **_):
        return " ".join(m["content"] for m in messages)

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [len(word) for word in text.split()]}


@pytest.fixture
def fake_vllm(monkeypatch):
    vllm = types.ModuleType("vllm")
    vllm.LLM = FakeLLM
    vllm.SamplingParams = SamplingParams
    sampling = types.ModuleType("vllm.sampling_params")
    sampling.StructuredOutputsParams = StructuredOutputsParams
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_each_request_gets_its_own_sampling_params(fake_vllm):
    client = OfflineClient("some/model", backend="vllm", cache=False, batch_wait_ms=50)
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    requests = [
        dict(max_tokens=2),
        dict(max_tokens=4, temperature=0.9, logprobs=True, top_logprobs=1),
        dict(max_tokens=3, response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}),
    ]

    async def go():
        try:
            return await asyncio.gather(*(client.generate([{"role": "user", "content": f"hello number {i}"}], **kw)
                                          for i, kw in enumerate(requests)))
        finally:
            await client.close()

    responses = asyncio.run(go())
    ((prompts, params),) = FakeLLM.last.calls  # one batch
    assert [p.max_tokens for p in params] == [2, 4, 3]
    assert [p.temperature for p in params] == [0.0, 0.9, 0.0]
    assert [p.logprobs for p in params] == [None, 1, None]
    assert params[2].structured_outputs == StructuredOutputsParams(json=schema)
    assert len({p.seed for p in params}) == 3
    assert prompts[0]["prompt_token_ids"] == [5, 6, 1]  # "hello number 0" tokenized by the engine
    assert [r.completion_tokens for r in responses] == [2, 4, 3]
    assert responses[0].logprobs is None
    assert [(t.token, round(t.logprob, 2), t.top_logprobs) for t in responses[1].logprobs[:2]] == [
        ("t0", -0.1, {"t0": -0.1}), ("t1", -0.2, {"t1": -0.2})]


def test_prompt_longer_than_max_model_len_fails_alone(fake_vllm):
    client = OfflineClient("some/model", backend="vllm", cache=False)

    async def go():
        try:
            return await client.generate([{"role": "user", "content": "word " * 70}], max_tokens=2)
        finally:
            await client.close()

    with pytest.raises(LLMRequestError, match="max_model_len=64"):
        asyncio.run(go())
