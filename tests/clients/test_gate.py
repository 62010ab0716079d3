"""The gate: requests wait on our side (no timeout runs there), a managed server's slots cap what is
in flight, same-prefix prompts go out back to back, and the adaptive limit follows a server's pace."""

from __future__ import annotations

import asyncio
import time

import pytest

from autointerp.clients import OpenAICompatibleClient, RetryPolicy
from autointerp.clients.gate import AdaptiveLimit, Gate, prefix_group


def _send_all(client, prompts, **kwargs):
    async def go():
        try:
            return await asyncio.gather(*(client.generate([{"role": "user", "content": p}], max_tokens=4, **kwargs)
                                          for p in prompts), return_exceptions=True)
        finally:
            await client.close()

    return asyncio.run(go())


def test_single_slot_server_never_times_a_request_out_in_our_queue(faults):
    """The issue's case: one slot, 2 s per request, a 5 s timeout, 20 requests, max_concurrency 32."""
    faults.capacity = 1
    client = OpenAICompatibleClient("fake", faults.url, max_concurrency=32, server_slots=1, timeout=5.0,
                                    retry=RetryPolicy(max_attempts=3, initial_delay=0.1), cache=False)
    prompts = [f"delay:2 single-slot {i}" for i in range(20)]
    replies = _send_all(client, prompts)
    assert [r.text for r in replies] == [f"echo {p}" for p in prompts]  # every one answered, none failed
    assert faults.requests == 20  # none was sent twice: nothing timed out, nothing was retried
    assert faults.max_in_flight == 1
    assert client.accounting.total().errors == 0


def test_control_without_the_slot_cap_requests_time_out_in_the_servers_queue(faults):
    """The same server and timeout with 32 requests let out at once: the queue is the server's, and its clock runs."""
    faults.capacity = 1
    client = OpenAICompatibleClient("fake", faults.url, max_concurrency=32, adaptive=False, timeout=1.0,
                                    retry=RetryPolicy(max_attempts=1), cache=False)
    replies = _send_all(client, [f"delay:0.4 control {i}" for i in range(8)])
    failed = [r for r in replies if isinstance(r, Exception)]
    assert faults.max_in_flight == 8
    # 0.4 s each, one at a time: at most the first two or three beat 1 s (fewer on a loaded machine),
    # and the first, sent to an idle server, does
    assert 4 <= len(failed) <= 7


def test_same_prefix_prompts_leave_the_gate_back_to_back(faults):
    """Prompts of two latents arrive interleaved; with one slot they reach the server grouped by prefix."""
    faults.capacity = 1
    client = OpenAICompatibleClient("fake", faults.url, max_concurrency=32, server_slots=1, cache=False)

    def chat(latent, i):
        return [{"role": "system", "content": "judge"},
                {"role": "user", "content": f"Explanation: latent {latent}\ndelay:0.01 excerpt {latent}-{i}"}]

    async def go():
        try:
            await asyncio.gather(*(client.generate(chat(latent, i), max_tokens=4) for i in range(4) for latent in "ab"))
        finally:
            await client.close()

    asyncio.run(go())
    latents = [prompt.split()[-1][0] for prompt in faults.order]
    assert latents == ["a"] * 4 + ["b"] * 4  # sent interleaved a,b,a,b...; served in two runs


def test_prefix_group_is_the_shared_head():
    base = [{"role": "system", "content": "s"}, {"role": "user", "content": "Explanation: x\nexcerpt 1"}]
    same = [{"role": "system", "content": "s"}, {"role": "user", "content": "Explanation: x\nexcerpt 2"}]
    other = [{"role": "system", "content": "s"}, {"role": "user", "content": "Explanation: y\nexcerpt 1"}]
    assert prefix_group(base) == prefix_group(same) != prefix_group(other)


def test_a_cancelled_waiter_gives_its_turn_away():
    async def go():
        gate = Gate(1)
        await gate.acquire("a")
        waiter = asyncio.ensure_future(gate.acquire("a"))
        second = asyncio.ensure_future(gate.acquire("b"))
        await asyncio.sleep(0)
        waiter.cancel()
        gate.release()
        await asyncio.wait_for(second, 1)
        return gate.in_flight

    assert asyncio.run(go()) == 1


def test_adaptive_limit_halves_once_per_wave_and_creeps_back():
    limit = AdaptiveLimit(16)
    limit.overloaded(epoch=0)
    assert limit.limit == 8
    limit.overloaded(epoch=0)  # sent before the cut: the same wave counts once
    assert limit.limit == 8
    for _ in range(8):
        limit.answered("k", 1.0, epoch=1)
    assert limit.limit == 9  # +1 per limit's worth of timely replies
    for _ in range(3):
        limit.answered("k", 5.0, epoch=0)  # slow, but sent before the cut
    assert limit.limit == 9
    limit.answered("k", 5.0, epoch=1)  # a run of replies 5x the fastest, sent since: the server slows down
    assert limit.limit == 4


@pytest.mark.parametrize("capacity", [4])
def test_adaptive_limit_finds_a_rate_limited_servers_capacity(faults, capacity):
    """A server that answers 429 beyond `capacity` in flight: the client settles near it, every call succeeds."""
    faults.reject_over = capacity
    client = OpenAICompatibleClient("fake", faults.url, max_concurrency=32, cache=False,
                                    retry=RetryPolicy(max_attempts=10, initial_delay=0.05))
    replies = _send_all(client, [f"delay:0.05 rated {i}" for i in range(120)])
    assert not [r for r in replies if isinstance(r, Exception)]
    assert client.adaptive.limit <= 2 * capacity
    assert faults.rejected < 60  # 32 let out at once would be refused 28 times per wave without backing off


def test_adaptive_limit_backs_off_from_a_slow_queueing_server_and_recovers(faults):
    """One slot, unknown to the client: replies slow down with the server's queue and the limit
    drops well below max_concurrency; then the server gets all the capacity it needs and the limit
    climbs back."""
    faults.capacity = 1
    client = OpenAICompatibleClient("fake", faults.url, max_concurrency=16, cache=False)
    # 0.1 s per reply: large beside the scheduling jitter of a loaded 2-core machine, which the
    # limit would otherwise read as a slow server
    _send_all(client, [f"delay:0.1 learn {i}" for i in range(30)])
    faults.reset()
    faults.capacity = 1
    _send_all(client, [f"delay:0.1 queued {i}" for i in range(30)])
    typical = sorted(faults.in_flight_seen)[len(faults.in_flight_seen) // 2]
    assert typical <= 6  # a client that ignored the slow-down would keep 16 there
    low = client.adaptive.limit
    faults.reset()
    _send_all(client, [f"delay:0.1 free {i}" for i in range(100)])
    assert client.adaptive.limit >= min(16, low + 4)
