"""The response cache: a rerun sends nothing already answered; any changed setting changes the key."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from autointerp.clients import OpenAICompatibleClient
from autointerp.clients.response_cache import ResponseCache, cache_key, default_cache_path

BASE = dict(max_tokens=8, temperature=0.0, logprobs=False, top_logprobs=0, response_format=None, sample=0)
MESSAGES = [{"role": "user", "content": "hi"}]


def calls(client, prompts, **kwargs):
    async def go():
        try:
            return await asyncio.gather(*(
                client.generate([{"role": "user", "content": p}], max_tokens=8, **kwargs) for p in prompts
            ), return_exceptions=True)
        finally:
            await client.close()

    return asyncio.run(go())


def test_second_identical_run_makes_zero_requests(faults, tmp_path):
    prompts = [f"ok {i}" for i in range(20)]
    path = str(tmp_path / "responses.sqlite")
    first = calls(OpenAICompatibleClient("fake", faults.url, cache_path=path), prompts, logprobs=True, top_logprobs=1)
    assert faults.requests == 20 and not any(r.cached for r in first)
    faults.reset()
    rerun_client = OpenAICompatibleClient("fake", faults.url, cache_path=path)
    second = calls(rerun_client, prompts, logprobs=True, top_logprobs=1)
    assert faults.requests == 0
    assert all(r.cached for r in second)
    assert [(r.text, r.logprobs, r.prompt_tokens) for r in second] == [(r.text, r.logprobs, r.prompt_tokens) for r in first]
    total = rerun_client.accounting.total()
    assert total.cached_calls == 20 and total.calls == 0 and total.cost_usd == 0


def test_failures_are_not_cached_so_a_rerun_repeats_only_them(faults, tmp_path):
    from autointerp.clients import RetryPolicy

    path = str(tmp_path / "responses.sqlite")
    retry = RetryPolicy(max_attempts=1)
    first = calls(OpenAICompatibleClient("fake", faults.url, cache_path=path, retry=retry), ["ok a", "500x1 b"])
    assert isinstance(first[1], Exception) and faults.requests == 2
    second = calls(OpenAICompatibleClient("fake", faults.url, cache_path=path, retry=retry), ["ok a", "500x1 b"])
    assert faults.requests == 3 and second[1].text == "echo 500x1 b" and second[0].cached


def test_cache_off_sends_every_time(faults, tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOINTERP_CACHE", raising=False)
    for _ in range(2):
        calls(OpenAICompatibleClient("fake", faults.url, cache=False), ["ok z"])
    assert faults.requests == 2
    assert not default_cache_path().exists()


def test_default_location_is_the_user_cache_folder(faults, tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOINTERP_CACHE", raising=False)
    calls(OpenAICompatibleClient("fake", faults.url), ["ok y"])
    assert default_cache_path() == tmp_path / "xdg-cache" / "autointerp" / "llm_cache.sqlite"
    assert len(ResponseCache(default_cache_path())) == 1


def test_autointerp_cache_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOINTERP_CACHE", str(tmp_path / "mine"))
    assert default_cache_path() == tmp_path / "mine" / "llm_cache.sqlite"


def test_use_cache_at_puts_it_in_the_run_folder(faults, tmp_path):
    client = OpenAICompatibleClient("fake", faults.url)
    client.use_cache_at(tmp_path / "run")
    calls(client, ["ok w"])
    assert (tmp_path / "run" / "llm_cache.sqlite").is_file()
    assert sqlite3.connect(tmp_path / "run" / "llm_cache.sqlite").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("change", [
    {"temperature": 0.7}, {"max_tokens": 9}, {"sample": 1}, {"logprobs": True}, {"top_logprobs": 2},
    {"response_format": {"type": "json_object"}},
    {"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}},
])
def test_keys_differ_when_any_setting_differs(change):
    assert cache_key("m", MESSAGES, {**BASE, **change}) != cache_key("m", MESSAGES, BASE)


def test_keys_differ_by_model_and_messages_and_match_otherwise():
    key = cache_key("m", MESSAGES, BASE)
    assert cache_key("m2", MESSAGES, BASE) != key
    assert cache_key("m", [{"role": "user", "content": "hi!"}], BASE) != key
    assert cache_key("m", [{"role": "system", "content": "hi"}], BASE) != key
    assert cache_key("m", [dict(MESSAGES[0])], dict(reversed(list(BASE.items())))) == key


def test_samples_at_temperature_get_distinct_entries(faults, tmp_path):
    client = OpenAICompatibleClient("fake", faults.url, cache_path=str(tmp_path / "c.sqlite"))

    async def go():
        out = [await client.generate(MESSAGES, temperature=1.0, sample=s) for s in range(3)]
        out += [await client.generate(MESSAGES, temperature=1.0, sample=s) for s in range(3)]
        await client.close()
        return out

    out = asyncio.run(go())
    assert faults.requests == 3 and [r.cached for r in out] == [False] * 3 + [True] * 3


def test_a_damaged_entry_is_a_miss(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache._db.execute("INSERT INTO responses VALUES ('k', 'm', 'not json')")
    assert cache.get("k") is None and cache.misses == 1


def test_extra_body_is_part_of_the_key(faults, tmp_path):
    path = str(tmp_path / "c.sqlite")
    for extra in (None, {"repeat_penalty": 1.0}, {"repeat_penalty": 1.0}, {"repeat_penalty": 1.1}):
        client = OpenAICompatibleClient("fake", faults.url, cache_path=path, extra_body=extra)
        calls(client, ["ok extra key"])
    assert faults.requests == 3  # the repeated setting was a cache hit, each new one a request
