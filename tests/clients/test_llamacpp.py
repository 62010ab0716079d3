"""Against a real llama_cpp.server serving the embedded SmolLM2 GGUF on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from autointerp.clients import LlamaCppClient

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}, "confidence": {"type": "integer"}},
    "required": ["answer", "confidence"],
}


@pytest.fixture
def client(llamacpp_server, tmp_path):
    return LlamaCppClient(llamacpp_server.model, llamacpp_server.base_url, cache_path=str(tmp_path / "c.sqlite"))


def ask(client, content, **kwargs):
    async def go():
        try:
            return await client.generate([{"role": "user", "content": content}], **kwargs)
        finally:
            await client.close()

    return asyncio.run(go())


def test_chat_completion(client):
    response = ask(client, "Name a colour.", max_tokens=8)
    assert response.text.strip()
    assert response.prompt_tokens > 5 and 1 <= response.completion_tokens <= 8


def test_logprobs_with_top_alternatives(client):
    prompt = "Count: one, one, one, one, one,"  # with llama.cpp's default repeat_penalty 1.1 this is not greedy
    response = ask(client, prompt, max_tokens=16, logprobs=True, top_logprobs=3)
    assert response.logprobs and len(response.logprobs) == response.completion_tokens
    assert "".join(t.token for t in response.logprobs) == response.text
    for token in response.logprobs:
        assert token.logprob <= 0 and len(token.top_logprobs) == 3
        assert sum(math.exp(v) for v in token.top_logprobs.values()) <= 1 + 1e-4
        # temperature 0 with the provider's repeat_penalty 1.0 is greedy: every token is the top one
        assert token.logprob == pytest.approx(max(token.top_logprobs.values()), abs=1e-4)


def test_json_schema_reply_parses(client):
    fmt = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": SCHEMA}}
    response = ask(client, "Is the sky blue? Reply in JSON.", max_tokens=40, response_format=fmt)
    data = json.loads(response.text)
    assert data["answer"] in ("yes", "no") and isinstance(data["confidence"], int)


def test_a_rerun_is_answered_from_the_cache(client, llamacpp_server):
    first = ask(client, "Say hi.", max_tokens=4)
    second = ask(client, "Say hi.", max_tokens=4)
    assert second.cached and second.text == first.text and not first.cached
