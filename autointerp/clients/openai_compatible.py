"""`OpenAICompatibleClient`: any OpenAI-style chat endpoint (OpenAI, OpenRouter, vLLM, llama.cpp).

One `Gate` bounds the whole run's concurrency: a managed server's slots, else an adaptive limit
under `max_concurrency`; requests wait there, outside any timeout, and same-prefix prompts leave it
back to back. They spread over replicas (least busy first, ties in turn); each sent attempt has a
timeout; transient failures retry with backoff.
API keys come from the environment (or a `SecretStr`), never from a config dump: the client keeps
the NAME of the variable, and its repr shows neither key nor secret.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from typing import Any, Literal

from jsonargparse.typing import SecretStr

from autointerp.clients.accounting import Accounting
from autointerp.clients.base import Message, Response
from autointerp.clients.gate import AdaptiveLimit, Gate, prefix_group
from autointerp.clients.managed import ManagedClient, Settings
from autointerp.clients.openai_wire import ChatEndpoint, _parse
from autointerp.clients.retry import RetryPolicy, TransientError, with_retries

logger = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"
OPENROUTER_URL = "https://openrouter.ai/api/v1"
NO_KEY = "EMPTY"  # local servers (vLLM, llama.cpp) ignore the bearer key; some want the header present
_HOSTED = (OPENAI_URL, OPENROUTER_URL)


def _resolve_key(api_key: str | SecretStr | None, api_key_env: str | None, base_urls: list[str]) -> SecretStr:
    if api_key is not None:
        return api_key if isinstance(api_key, SecretStr) else SecretStr(str(api_key))
    if api_key_env and os.environ.get(api_key_env):
        return SecretStr(os.environ[api_key_env])
    hosted = [url for url in base_urls if url.rstrip("/") in _HOSTED]
    if hosted:
        raise ValueError(f"{hosted[0]} needs an API key: set the environment variable {api_key_env or 'OPENAI_API_KEY'}")
    return SecretStr(NO_KEY)


LLAMACPP_URL = "http://127.0.0.1:8080/v1"
"""Where `python -m llama_cpp.server` listens by default."""


class _LoopState:
    """Per-event-loop objects: asyncio primitives and HTTP pools must not cross loops."""

    def __init__(self, loop: asyncio.AbstractEventLoop, gate: Gate, clients: list[ChatEndpoint]) -> None:
        self.loop = loop
        self.gate = gate
        self.clients = clients
        self.in_flight = [0] * len(clients)


class OpenAICompatibleClient(ManagedClient):
    """Chat completions over HTTP with bounded concurrency, retries, replicas and a response cache."""

    def __init__(
        self,
        model: str,
        base_url: str | list[str] | None = None,
        *,
        api_key: SecretStr | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        max_concurrency: int = 32,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        extra_body: dict[str, Any] | None = None,
        json_schema_as: Literal["json_schema", "json_object"] = "json_schema",
        cache: bool = True,
        cache_path: str | None = None,
        accounting: Accounting | None = None,
        server_slots: int | None = None,
        adaptive: bool = True,
    ) -> None:
        """model: the served model's name; base_url: one URL or several replicas (default: OpenAI);
        api_key: a key passed in code (prefer api_key_env, the NAME of the variable holding it);
        max_concurrency: requests in flight at once for the whole run (more wait on our side, where no
        timeout runs); timeout: seconds per sent attempt; server_slots: requests the server(s) work on
        at once, all replicas together, when known (a managed server): a fixed cap below max_concurrency;
        adaptive: otherwise back the limit off when the server answers 429/503, times out or slows down,
        and raise it again as it keeps pace (AIMD, `autointerp.clients.gate.AdaptiveLimit`);
        retry: the retry policy; extra_body: provider-specific request fields; json_schema_as:
        "json_object" sends a json_schema response_format as {"type": "json_object", "schema": ...},
        the form llama-cpp-python's server understands."""
        super().__init__(model, cache=cache, cache_path=cache_path, accounting=accounting)
        urls = [base_url] if isinstance(base_url, str) else list(base_url or [OPENAI_URL])
        if not urls or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls):
            raise ValueError(f"base_url must be an http(s) URL or a list of them, got {base_url!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if server_slots is not None and server_slots < 1:
            raise ValueError(f"server_slots must be >= 1 or None, got {server_slots}")
        self.base_urls = urls
        self.api_key_env = api_key_env
        self.max_concurrency = max_concurrency
        self.server_slots = server_slots
        self.timeout = timeout
        # learned across event loops; a server whose capacity we know needs no guessing
        self.adaptive = AdaptiveLimit(max_concurrency) if adaptive and server_slots is None else None
        self.retry = retry if retry is not None else RetryPolicy()
        self.extra_body = dict(extra_body or {})
        if json_schema_as not in ("json_schema", "json_object"):
            raise ValueError(f"json_schema_as must be 'json_schema' or 'json_object', got {json_schema_as!r}")
        self.json_schema_as = json_schema_as
        self._api_key = _resolve_key(api_key, api_key_env, urls)
        self._state: _LoopState | None = None
        self._turn = 0
        self._rng = random.Random()

    def use_base_url(self, base_url: str | list[str]) -> None:
        """Send every later request to `base_url` (e.g. the llama.cpp server the stage started)."""
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls):
            raise ValueError(f"base_url must be an http(s) URL or a list of them, got {base_url!r}")
        self.base_urls = urls
        self._state = None

    def use_managed_server(self, base_url: str, *, model: str | None = None, slots: int | None = None,
                           timeout: float | None = None) -> None:
        """Talk to a server the stage started: its URL and served name; with its slots known, at most
        that many requests in flight (no adaptive guessing); timeout: seconds per request."""
        self.use_base_url(base_url)
        if model:
            self.model = model
        if slots is not None:
            if slots < 1:
                raise ValueError(f"slots must be >= 1, got {slots}")
            self.server_slots, self.adaptive = slots, None
        if timeout is not None:
            self.timeout = timeout

    def __repr__(self) -> str:
        """Model, URLs and the key's variable name; never the key."""
        return (
            f"{type(self).__name__}(model={self.model!r}, base_url={self.base_urls!r}, "
            f"api_key_env={self.api_key_env!r}, max_concurrency={self.max_concurrency})"
        )

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._state is None or self._state.loop is not loop:
            clients = [ChatEndpoint(url, self._api_key.get_secret_value()) for url in self.base_urls]
            self._state = _LoopState(loop, Gate(self.in_flight_limit, self.adaptive), clients)
        return self._state

    @property
    def in_flight_limit(self) -> int:
        """The most requests ever in flight: the server's slots when known, else max_concurrency."""
        return min(self.max_concurrency, self.server_slots or self.max_concurrency)

    def _pick_replica(self, state: _LoopState, avoid: int | None) -> int:
        """Least busy replica, never the one that just failed this call; ties go round-robin."""
        n = len(state.clients)
        order = [(self._turn + i) % n for i in range(n) if n == 1 or (self._turn + i) % n != avoid]
        self._turn = (self._turn + 1) % n
        return min(order, key=lambda i: state.in_flight[i])

    def _request(self, messages: list[Message], settings: Settings) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
        }
        if settings.logprobs:
            body["logprobs"] = True
            if settings.top_logprobs:
                body["top_logprobs"] = settings.top_logprobs
        if settings.response_format is not None:
            body["response_format"] = self._response_format(settings.response_format)
        body.update(self.extra_body)  # provider-specific fields go into the JSON body as they are
        return body

    def _key_extras(self) -> dict[str, Any]:
        """extra_body fields (e.g. repeat_penalty) change answers, so they are part of the cache key."""
        return {"extra_body": self.extra_body} if self.extra_body else {}

    def _response_format(self, fmt: dict[str, Any]) -> dict[str, Any]:
        """The response_format as this server wants it (the cache key keeps the caller's form)."""
        if self.json_schema_as == "json_object" and fmt.get("type") == "json_schema":
            return {"type": "json_object", "schema": fmt.get("json_schema", {}).get("schema", {})}
        return fmt

    async def _complete(self, messages: list[Message], settings: Settings) -> Response:
        """One call: attempts with retries, each admitted by the run's gate, then sent to the least busy replica."""
        body = self._request(messages, settings)
        group = prefix_group(messages)
        last: list[int] = []  # the replica of the previous attempt, which a retry avoids

        async def attempt(number: int) -> Response:
            state = self._loop_state()
            await state.gate.acquire(group)  # the wait for a slot: no timeout runs here
            try:
                replica = self._pick_replica(state, last[-1] if last else None)
                last.append(replica)
                completion = await self._timed_send(state, replica, body, settings.max_tokens)
            finally:
                state.gate.release()
            return _parse(completion, settings)

        return await with_retries(attempt, self.retry, rng=self._rng, describe=f"{self.model} chat completion")

    async def _timed_send(self, state: _LoopState, replica: int, body: dict[str, Any], kind: int) -> Any:
        """Send on one replica (the timeout starts now) and tell the adaptive limit how it went."""
        state.in_flight[replica] += 1
        start, epoch = time.monotonic(), self.adaptive.epoch if self.adaptive is not None else 0
        try:
            completion = await state.clients[replica].post(body, self.timeout)
        except TransientError as err:
            if self.adaptive is not None and err.overload:
                self.adaptive.overloaded(epoch)
            raise
        finally:
            state.in_flight[replica] -= 1
        if self.adaptive is not None:
            self.adaptive.answered(kind, time.monotonic() - start, epoch)
        return completion

    async def close(self) -> None:
        """Close the HTTP pools (when still on their loop) and the response cache."""
        state, self._state = self._state, None
        if state is not None and not state.loop.is_closed():
            try:
                for client in state.clients:
                    await client.close()
            except RuntimeError:  # closed from another loop: the pools die with theirs
                pass
        await super().close()


class OpenRouter(OpenAICompatibleClient):
    """OpenRouter's endpoint; the key comes from `OPENROUTER_API_KEY` (or `api_key=` in code)."""

    def __init__(
        self,
        model: str,
        api_key: SecretStr | None = None,
        *,
        base_url: str | list[str] = OPENROUTER_URL,
        api_key_env: str | None = "OPENROUTER_API_KEY",
        max_concurrency: int = 32,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        extra_body: dict[str, Any] | None = None,
        cache: bool = True,
        cache_path: str | None = None,
        accounting: Accounting | None = None,
        adaptive: bool = True,
    ) -> None:
        """model: an OpenRouter model id such as "openai/gpt-4o-mini"; other arguments as the base class."""
        super().__init__(
            model, base_url, api_key=api_key, api_key_env=api_key_env, max_concurrency=max_concurrency,
            timeout=timeout, retry=retry, extra_body=extra_body, cache=cache, cache_path=cache_path,
            accounting=accounting, adaptive=adaptive,
        )


class LlamaCppClient(OpenAICompatibleClient):
    """A llama-cpp-python server (`python -m llama_cpp.server`): JSON schemas sent in its json_object form,
    and `repeat_penalty: 1.0`, since its default 1.1 penalizes repeated verdicts and makes temperature 0 non-greedy."""

    def __init__(
        self,
        model: str,
        base_url: str | list[str] = LLAMACPP_URL,
        *,
        api_key_env: str | None = "LLAMACPP_API_KEY",
        max_concurrency: int = 32,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        extra_body: dict[str, Any] | None = None,
        cache: bool = True,
        cache_path: str | None = None,
        accounting: Accounting | None = None,
        adaptive: bool = True,
    ) -> None:
        """model: the served model's name; base_url: the server (a list: replicas); `extra_body` fields
        are sent with every request, over `repeat_penalty: 1.0`; other arguments as the base class."""
        super().__init__(
            model, base_url, api_key_env=api_key_env, max_concurrency=max_concurrency, timeout=timeout, retry=retry,
            extra_body={"repeat_penalty": 1.0, **(extra_body or {})}, json_schema_as="json_object", cache=cache,
            cache_path=cache_path, accounting=accounting, adaptive=adaptive,
        )
