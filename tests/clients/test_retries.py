"""Faults from a scripted local server: each is retried as specified, then ends in a typed error."""

from __future__ import annotations

import asyncio
import random

import pytest
from fault_server import RETRY_AFTER

from autointerp.clients import LLMRequestError, LLMRetryError, OpenAICompatibleClient, RetryPolicy
from autointerp.clients.llamacpp_server import free_port
from autointerp.clients.retry import parse_retry_after

FAST = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02)


def client_for(url, **kwargs):
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("cache", False)
    return OpenAICompatibleClient("fake", url, **kwargs)


def ask(client, prompt, **kwargs):
    return client.generate([{"role": "user", "content": prompt}], max_tokens=8, **kwargs)


def run(coro, client=None):
    """Run one call (closing the client's connections on the same loop afterwards)."""
    async def go():
        try:
            return await coro
        finally:
            if client is not None:
                await client.close()

    return asyncio.run(go())


def test_429_waits_retry_after_by_the_servers_clock(faults):
    client = client_for(faults.url)
    response = run(ask(client, "429x1 a"), client)
    assert response.text == "echo 429x1 a"
    first, second = faults.arrivals["429x1 a"]
    assert second - first >= RETRY_AFTER
    assert faults.requests == 2


@pytest.mark.parametrize("fault", ["500", "malformed", "nochoices"])
def test_transient_faults_are_retried_then_succeed(faults, fault):
    client = client_for(faults.url)
    response = run(ask(client, f"{fault}x2 b"), client)
    assert response.text == f"echo {fault}x2 b"
    assert len(faults.arrivals[f"{fault}x2 b"]) == 3


@pytest.mark.parametrize(("fault", "kind"), [("500", "server_error"), ("malformed", "malformed"),
                                             ("nochoices", "malformed"), ("429", "rate_limit")])
def test_persistent_faults_end_in_a_typed_error_after_max_attempts(faults, fault, kind):
    client = client_for(faults.url)
    with pytest.raises(LLMRetryError) as info:
        run(ask(client, f"{fault}x9 c"), client)
    assert info.value.kind == kind and info.value.attempts == 3
    assert len(faults.arrivals[f"{fault}x9 c"]) == 3


def test_a_hang_times_out_and_is_retried(faults):
    client = client_for(faults.url, timeout=1.0)
    assert run(ask(client, "hangx1 d"), client).text == "echo hangx1 d"
    with pytest.raises(LLMRetryError) as info:
        run(ask(client, "hangx9 e"), client)
    assert info.value.kind == "timeout" and len(faults.arrivals["hangx9 e"]) == 3


def test_a_rejection_is_not_retried(faults):
    client = client_for(faults.url)
    with pytest.raises(LLMRequestError) as info:
        run(ask(client, "400x9 f"), client)
    assert info.value.status == 400 and len(faults.arrivals["400x9 f"]) == 1


def test_refused_connection_is_retried_then_typed():
    client = client_for(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(LLMRetryError) as info:
        run(ask(client, "ok"), client)
    assert info.value.kind == "connection" and info.value.attempts == 3


def test_a_dead_replica_is_routed_around(faults):
    client = client_for([f"http://127.0.0.1:{free_port()}/v1", faults.url], retry=RetryPolicy(max_attempts=2, initial_delay=0.01))

    async def many():
        try:
            return await asyncio.gather(*(ask(client, f"ok {i}") for i in range(10)))
        finally:
            await client.close()

    assert [r.text for r in run(many())] == [f"echo ok {i}" for i in range(10)]


def test_the_run_goes_on_when_some_calls_fail(faults):
    client = client_for(faults.url, timeout=1.0)
    prompts = ["ok 1", "500x9 g", "ok 2", "hangx9 h", "malformedx9 i", "429x1 j", "ok 3"]

    async def all_calls():
        try:
            return await asyncio.gather(*(ask(client, p) for p in prompts), return_exceptions=True)
        finally:
            await client.close()

    results = run(all_calls())
    failed = [p for p, r in zip(prompts, results) if isinstance(r, Exception)]
    assert failed == ["500x9 g", "hangx9 h", "malformedx9 i"]
    assert all(isinstance(r, LLMRetryError) for r in results if isinstance(r, Exception))
    assert [r.text for r in results if not isinstance(r, Exception)] == ["echo ok 1", "echo ok 2", "echo 429x1 j", "echo ok 3"]
    assert client.accounting.total().errors == 3 and client.accounting.total().calls == 4


def test_the_wire_posts_json_with_the_key_as_a_bearer_token(faults, monkeypatch):
    """What reaches the server: the JSON body we built, our key from the environment, nothing else of ours."""
    monkeypatch.setenv("WIRE_TEST_KEY", "k-123")
    client = client_for(faults.url, api_key_env="WIRE_TEST_KEY", extra_body={"repeat_penalty": 1.0})
    run(ask(client, "ok wire", temperature=0.5), client)
    assert faults.bodies == [{"model": "fake", "messages": [{"role": "user", "content": "ok wire"}], "max_tokens": 8,
                              "temperature": 0.5, "repeat_penalty": 1.0}]
    assert faults.headers[0]["authorization"] == "Bearer k-123"
    assert faults.headers[0]["content-type"] == "application/json"


def test_an_error_reply_names_its_status_and_body(faults):
    client = client_for(faults.url)
    with pytest.raises(LLMRequestError, match="HTTP 400: .*fault 400"):
        run(ask(client, "400x9 wire"), client)


def test_backoff_grows_and_stays_within_bounds():
    policy = RetryPolicy(initial_delay=0.1, max_delay=0.5)
    rng = random.Random(0)
    delays = [policy.delay(n, None, rng) for n in range(1, 7)]
    ceilings = [min(0.5, 0.1 * 2 ** (n - 1)) for n in range(1, 7)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings))
    assert policy.delay(1, 7.0, rng) >= 7.0
    assert policy.delay(1, 1e6, rng) <= policy.max_retry_after * 1.1


def test_retry_after_header_forms():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_bad_settings_name_the_setting():
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="max_concurrency"):
        OpenAICompatibleClient("m", "http://127.0.0.1:1/v1", max_concurrency=0)
    with pytest.raises(ValueError, match="base_url"):
        OpenAICompatibleClient("m", "127.0.0.1:1")
    client = client_for("http://127.0.0.1:1/v1")
    with pytest.raises(ValueError, match="temperature"):
        run(ask(client, "x", temperature=-1), client)
    with pytest.raises(ValueError, match="top_logprobs"):
        run(ask(client, "x", top_logprobs=3), client)
