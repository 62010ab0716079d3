"""The OpenAI chat-completions wire format: one POST, its errors sorted into retryable or not, the reply parsed.

The POST goes straight through aiohttp, not through the openai SDK: the SDK's request building and
its httpx layer cost about 1 ms of CPU per request on top of aiohttp's own ~0.3 ms, and at 64
requests in flight every reply of a wave waits for the CPU of the others
(benchmarks/clients.py measures both in one run). The wire itself is plain HTTP with a bearer key.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from autointerp.clients.base import Response, TokenLogprob
from autointerp.clients.managed import Settings
from autointerp.clients.retry import LLMRequestError, TransientError, parse_retry_after

ERROR_BODY_CHARS = 500
"""How much of an error reply's body goes into the error message."""


class ChatEndpoint:
    """One server's `/chat/completions`, over a connection pool of its own (create it on the loop that uses it)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        """base_url: the API root (".../v1"); api_key: sent as a bearer token."""
        import aiohttp  # lazy: only a client that sends needs it

        self.base_url = base_url.rstrip("/")
        self._url = f"{self.base_url}/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
                         "Accept": "application/json"}
        # no pool limit: the client's gate already bounds what is in flight, and a wait for a pooled
        # connection would run inside the request's timeout
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def post(self, body: dict[str, Any], timeout: float) -> Any:
        """POST one chat completion and return its JSON; transient failures raise `TransientError`,
        rejections `LLMRequestError`."""
        import aiohttp

        try:
            async with self._session.post(self._url, data=json.dumps(body), headers=self._headers,
                                          timeout=aiohttp.ClientTimeout(total=timeout)) as reply:
                raw = await reply.read()
                if reply.status >= 400:
                    _raise_for_status(reply.status, raw, reply.headers)
        except (asyncio.TimeoutError, TimeoutError) as err:
            raise TransientError("timeout", f"Request timed out after {timeout:g} s.") from err
        except aiohttp.ClientError as err:
            raise TransientError("connection", f"Connection error. ({self.no_answer()})") from err
        try:
            return json.loads(raw)
        except ValueError as err:  # broken JSON, or not UTF-8
            raise TransientError("malformed", f"unreadable response body: {err}") from err

    def no_answer(self) -> str:
        """Which server did not answer: with several replicas, the URL is what a person needs to check."""
        return f"the LLM server at {self.base_url} did not answer"

    async def close(self) -> None:
        """Close the connection pool."""
        await self._session.close()


def _raise_for_status(status: int, raw: bytes, headers: Any) -> None:
    """An HTTP error reply as the typed error it means: 429, 408 and 5xx are worth repeating."""
    message = f"HTTP {status}: {raw[:ERROR_BODY_CHARS].decode(errors='replace')}"
    retry_after = parse_retry_after(headers)
    if status == 429:
        raise TransientError("rate_limit", message, retry_after, 429)
    if status >= 500 or status == 408:
        raise TransientError("server_error", message, retry_after, status)
    raise LLMRequestError(message, status=status)


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
    model = data.get("model") if isinstance(data.get("model"), str) else None
    return Response(text=text, logprobs=logprobs, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                    model=model or None)


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
