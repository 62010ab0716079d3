"""One semaphore bounds the run's concurrency: never above max_concurrency, and reached under load."""

from __future__ import annotations

import asyncio

import pytest

from autointerp.clients import OpenAICompatibleClient


def flood(client, n, delay=0.05, tag="c"):
    async def go():
        try:
            return await asyncio.gather(*(
                client.generate([{"role": "user", "content": f"delay:{delay} {tag} {i}"}], max_tokens=4)
                for i in range(n)
            ))
        finally:
            await client.close()

    return asyncio.run(go())


@pytest.mark.parametrize("limit", [1, 4, 16])
def test_in_flight_never_exceeds_and_reaches_max_concurrency(faults, limit):
    client = OpenAICompatibleClient("fake", faults.url, max_concurrency=limit, cache=False)
    responses = flood(client, 3 * limit + 2, tag=f"limit{limit}")
    assert len(responses) == 3 * limit + 2
    assert faults.max_in_flight == limit


def test_replicas_share_the_load(fault_server):
    from fault_server import FaultServer

    second = FaultServer()
    second.start()
    try:
        fault_server.reset()
        client = OpenAICompatibleClient("fake", [fault_server.url, second.url], max_concurrency=8, cache=False)
        flood(client, 40, delay=0.02, tag="replicas")
        assert fault_server.requests + second.requests == 40
        assert min(fault_server.requests, second.requests) >= 15
    finally:
        second.stop()


def test_every_call_keeps_its_own_settings(faults):
    client = OpenAICompatibleClient("fake", faults.url, cache=False)

    async def go():
        await asyncio.gather(*(
            client.generate([{"role": "user", "content": f"ok {t}"}], max_tokens=t + 1, temperature=t / 10)
            for t in range(6)
        ))
        await client.close()

    asyncio.run(go())
    sent = {b["messages"][-1]["content"]: (b["max_tokens"], b["temperature"]) for b in faults.bodies}
    assert sent == {f"ok {t}": (t + 1, t / 10) for t in range(6)}


def test_extra_body_fields_reach_the_server(faults):
    client = OpenAICompatibleClient("fake", faults.url, cache=False, extra_body={"top_k": 5, "repetition_penalty": 1.1})

    async def go():
        await client.generate([{"role": "user", "content": "ok extra"}], max_tokens=3)
        await client.close()

    asyncio.run(go())
    (body,) = faults.bodies
    assert body["top_k"] == 5 and body["repetition_penalty"] == 1.1 and body["max_tokens"] == 3
