"""The OpenAI chat-completions wire format: one POST, its errors sorted into retryable or not, the reply parsed."""

from __future__ import annotations

from typing import Any

from autointerp.clients.base import Response, TokenLogprob
from autointerp.clients.managed import Settings
from autointerp.clients.retry import LLMRequestError, TransientError, parse_retry_after


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
            raise TransientError("rate_limit", str(err), retry_after, 429) from err
        if err.status_code >= 500 or err.status_code == 408:
            raise TransientError("server_error", f"HTTP {err.status_code}: {err}", retry_after, err.status_code) from err
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
