"""When too many latents fail, the message says what went wrong: the most common error, in full."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from autointerp.clients.llamacpp_server import free_port
from autointerp.clients.openai_compatible import OpenAICompatibleClient
from autointerp.clients.retry import LLMRetryError, RetryPolicy
from autointerp.pipeline import outputs
from autointerp.pipeline.stage import RunFailedError, check_failures, describe_failures, failure_kinds
from autointerp.records import Latent

REFUSED = "LLMRetryError: m chat completion failed after 6 attempts; last error connection: Connection error. (the LLM server at http://127.0.0.1:{port}/v1 did not answer)"


def test_errors_are_grouped_by_kind_and_the_most_common_is_quoted(tmp_path):
    paths = outputs.RunPaths(tmp_path)
    latents = [Latent("layers.15", i) for i in range(6)]
    for i, latent in enumerate(latents[:4]):  # four of one kind: only the port differs
        outputs.write_explanation(paths, latent, None, None, REFUSED.format(port=35000 + i))
    outputs.write_explanation(paths, latents[4], None, None, "ValueError: no parseable explanation in the reply")
    kinds = failure_kinds(paths, latents)  # latents[5] has no file: not an error
    assert sorted(kinds.values()) == [1, 4]
    with pytest.raises(RunFailedError) as err:
        check_failures({"failed": 5, "explained": 1}, 0.5, lambda: kinds)
    message = str(err.value)
    assert message.startswith("5 of 6 latents failed, more than max_failure_fraction=0.5; most common error (4 latents): ")
    assert REFUSED.format(port=35000) in message and "1 other kind of error" in message
    assert describe_failures(Counter()) == ""


def test_error_records_are_read_only_when_the_run_fails(tmp_path):
    def boom():
        raise AssertionError("read the error records of a run that did not fail")

    check_failures({"failed": 1, "explained": 3}, 0.5, boom)


def test_a_refused_connection_names_the_url():
    port = free_port()  # nothing listens there
    client = OpenAICompatibleClient("m", f"http://127.0.0.1:{port}/v1", api_key_env=None, cache=False,
                                    retry=RetryPolicy(max_attempts=2, initial_delay=0.0), timeout=5)

    async def ask():
        try:
            return await client.generate([{"role": "user", "content": "hi"}])
        finally:
            await client.close()

    with pytest.raises(LLMRetryError) as err:
        asyncio.run(ask())
    assert err.value.kind == "connection"
    assert f"the LLM server at http://127.0.0.1:{port}/v1 did not answer" in str(err.value)
