"""`OpenAICompatibleClient`: any OpenAI-style chat endpoint (OpenAI, OpenRouter, vLLM, llama.cpp).

One semaphore bounds the whole run's concurrency; requests spread over replicas (least busy
first, ties in turn); each attempt has a timeout; transient failures retry with backoff.
API keys come from the environment (or a `SecretStr`), never from a config dump: the client keeps
the NAME of the variable, and its repr shows neither key nor secret.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from typing import Any, Literal

from jsonargparse.typing import SecretStr

from autointerp.clients.accounting import Accounting
from autointerp.clients.base import Message, Response, TokenLogprob
from autointerp.clients.managed import ManagedClient, Settings
from autointerp.clients.retry import LLMRequestError, RetryPolicy, TransientError, parse_retry_after, with_retries

logger = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"
OPENROUTER_URL = "https://openrouter.ai/api/v1"
NO_KEY = "EMPTY"  # local servers (vLLM, llama.cpp) ignore the key, but the openai package wants one
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

    def __init__(self, loop: asyncio.AbstractEventLoop, semaphore: asyncio.Semaphore, clients: list[Any]) -> None:
        self.loop = loop
        self.semaphore = semaphore
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
    ) -> None:
        """model: the served model's name; base_url: one URL or several replicas (default: OpenAI);
        api_key: a key passed in code (prefer api_key_env, the NAME of the variable holding it);
        max_concurrency: requests in flight at once for the whole run; timeout: seconds per attempt;
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
        self.base_urls = urls
        self.api_key_env = api_key_env
        self.max_concurrency = max_concurrency
        self.timeout = timeout
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

    def __repr__(self) -> str:
        """Model, URLs and the key's variable name; never the key."""
        return (
            f"{type(self).__name__}(model={self.model!r}, base_url={self.base_urls!r}, "
            f"api_key_env={self.api_key_env!r}, max_concurrency={self.max_concurrency})"
        )

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._state is None or self._state.loop is not loop:
            import openai  # lazy: ~0.5 s

            clients = [
                openai.AsyncOpenAI(
                    base_url=url, api_key=self._api_key.get_secret_value(), max_retries=0, timeout=self.timeout,
                    http_client=_http_pool(openai),
                )
                for url in self.base_urls
            ]
            self._state = _LoopState(loop, asyncio.Semaphore(self.max_concurrency), clients)
        return self._state

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
        """One call: attempts with retries, each on the least busy replica under the run's semaphore."""
        body = self._request(messages, settings)
        last: list[int] = []  # the replica of the previous attempt, which a retry avoids

        async def attempt(number: int) -> Response:
            state = self._loop_state()
            async with state.semaphore:
                replica = self._pick_replica(state, last[-1] if last else None)
                last.append(replica)
                state.in_flight[replica] += 1
                try:
                    completion = await _send(state.clients[replica], body)
                finally:
                    state.in_flight[replica] -= 1
            return _parse(completion, settings)

        return await with_retries(attempt, self.retry, rng=self._rng, describe=f"{self.model} chat completion")

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


def _http_pool(openai: Any) -> Any:
    """openai's aiohttp transport when aiohttp is installed (half the CPU per request of httpx's pool,
    measured in benchmarks/clients.py), else a plain httpx pool. Either is a pool we own: openai's
    default one schedules its own close on whatever loop runs when it is collected, which breaks
    when a client outlives an `asyncio.run`."""
    try:
        return openai.DefaultAioHttpClient()
    except (AttributeError, RuntimeError):  # an older openai, or aiohttp missing
        return openai.DefaultAsyncHttpxClient()


async def _send(client: Any, body: dict[str, Any]) -> Any:
    """POST one chat completion and return its JSON; turn transient failures into `TransientError`,
    rejections into `LLMRequestError`. The SDK's low-level `post` with a plain JSON result skips
    the typed-params transform and the pydantic response models: half the CPU per request of
    `chat.completions.create` (benchmarks/clients.py), with the same errors, auth and base URL."""
    import openai

    try:
        return await client.post("/chat/completions", body=body, cast_to=object)
    except openai.APITimeoutError as err:
        if _refused(err):
            raise TransientError("connection", f"{err} ({_no_answer(client)})") from err
        raise TransientError("timeout", str(err)) from err
    except openai.APIConnectionError as err:
        raise TransientError("connection", f"{err} ({_no_answer(client)})") from err
    except openai.APIStatusError as err:
        retry_after = parse_retry_after(err.response.headers)
        if err.status_code == 429:
            raise TransientError("rate_limit", str(err), retry_after) from err
        if err.status_code >= 500 or err.status_code == 408:
            raise TransientError("server_error", f"HTTP {err.status_code}: {err}", retry_after) from err
        raise LLMRequestError(f"HTTP {err.status_code}: {err}", status=err.status_code) from err
    except (openai.APIResponseValidationError, ValueError) as err:  # ValueError covers broken JSON
        raise TransientError("malformed", f"unreadable response body: {err}") from err


def _no_answer(client: Any) -> str:
    """Which server did not answer: with several replicas, the URL is what a person needs to check."""
    return f"the LLM server at {str(client.base_url).rstrip('/')} did not answer"


def _refused(err: BaseException) -> bool:
    """True when a 'timeout' was really a failed connect (openai's aiohttp transport reports a refused
    connection as a connect timeout): an OSError other than a timeout somewhere in the cause chain."""
    cause = err.__cause__ or err.__context__
    for _ in range(8):
        if cause is None:
            return False
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _parse(data: Any, settings: Settings) -> Response:
    """Text, logprobs and usage from a chat completion's JSON; a body without them is `malformed`."""
    try:
        choice = data["choices"][0]
        text = choice["message"]["content"]
        usage = data.get("usage") or {}
        logprobs = _logprobs(choice) if settings.logprobs else None
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as err:
        raise TransientError("malformed", f"response without choices[0].message: {err!r}") from err
    if not isinstance(text, str):
        raise TransientError("malformed", "response without text content")
    if settings.logprobs and logprobs is None:
        raise LLMRequestError("the server returned no logprobs although logprobs=True was asked")
    return Response(text=text, logprobs=logprobs, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def _logprobs(choice: dict[str, Any]) -> list[TokenLogprob] | None:
    content = (choice.get("logprobs") or {}).get("content")
    if content is None:
        return None
    return [
        TokenLogprob(
            token=item["token"],
            logprob=float(item["logprob"]),
            top_logprobs={top["token"]: float(top["logprob"]) for top in (item.get("top_logprobs") or [])},
        )
        for item in content
    ]


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
    ) -> None:
        """model: an OpenRouter model id such as "openai/gpt-4o-mini"; other arguments as the base class."""
        super().__init__(
            model, base_url, api_key=api_key, api_key_env=api_key_env, max_concurrency=max_concurrency,
            timeout=timeout, retry=retry, extra_body=extra_body, cache=cache, cache_path=cache_path,
            accounting=accounting,
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
    ) -> None:
        """model: the served model's name; base_url: the server (a list: replicas); `extra_body` fields
        are sent with every request, over `repeat_penalty: 1.0`; other arguments as the base class."""
        super().__init__(
            model, base_url, api_key_env=api_key_env, max_concurrency=max_concurrency, timeout=timeout, retry=retry,
            extra_body={"repeat_penalty": 1.0, **(extra_body or {})}, json_schema_as="json_object", cache=cache,
            cache_path=cache_path, accounting=accounting,
        )
