"""A scripted OpenAI-style chat server on 127.0.0.1 that injects the faults a real server won't on demand.

It runs on its own event loop in a thread, so its clock and its counts are independent of the
client under test. The last user message picks the behaviour:
    "ok ..."             answer at once
    "delay:<s> ..."      answer after <s> seconds
    "<fault>x<n> ..."    fail the first n attempts with <fault>, then answer; <fault> is one of
                         429 (Retry-After: 0.2), 500, hang (never answers), malformed (broken JSON),
                         nochoices (JSON without choices), 400 (a rejection, not retried)
Setting `capacity` to n makes it work on at most n requests at once, the rest waiting in its own
queue (as llama_cpp.server does with one); `reject_over` > 0 answers 429 to a request arriving while
that many are already in flight (a rate-limited API); `reported_model` is the model its replies name.
`reset()` clears all three.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import defaultdict

from aiohttp import web

RETRY_AFTER = 0.2


def completion(text: str, prompt_tokens: int, logprobs: bool, top: int) -> dict:
    """A minimal chat.completion body."""
    content = None
    if logprobs:
        content = [
            {"token": tok, "logprob": -0.5, "bytes": None,
             "top_logprobs": [{"token": tok, "logprob": -0.5, "bytes": None}][:top]}
            for tok in text.split()
        ]
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "fake",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text},
                     "logprobs": None if content is None else {"content": content}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                  "total_tokens": prompt_tokens + len(text.split())},
    }


class FaultServer:
    """Start with `start()`; `url` is its /v1 base URL; counts are reset with `reset()`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.reset()

    def reset(self) -> None:
        """Forget all counts and arrival times."""
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.bodies: list[dict] = []
        self.headers: list[dict[str, str]] = []
        """Each request's headers (lower-case names)."""
        self.in_flight_seen: list[int] = []
        """Requests in flight (this one included) at each arrival."""
        self.capacity: int | None = None
        self.reject_over = 0
        self.rejected = 0
        self.reported_model: str | None = None
        """The `model` its replies name (default: the requested one)."""
        self.order: list[str] = []
        """Prompts in the order the server started working on them."""
        self._slots: asyncio.Semaphore | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests += 1
        self.bodies.append(body)
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        prompt = body["messages"][-1]["content"]
        self.arrivals[prompt].append(time.monotonic())
        attempt = len(self.arrivals[prompt])
        if self.reject_over and self.in_flight >= self.reject_over:
            self.rejected += 1
            return web.json_response({"error": {"message": "over capacity"}}, status=429, headers={"Retry-After": "0.05"})
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.in_flight_seen.append(self.in_flight)
        try:
            if self.capacity is None:
                self.order.append(prompt)
                return await self._answer(body, prompt, attempt)
            if self._slots is None:
                self._slots = asyncio.Semaphore(self.capacity)
            async with self._slots:
                self.order.append(prompt)
                return await self._answer(body, prompt, attempt)
        finally:
            self.in_flight -= 1

    async def _answer(self, body: dict, prompt: str, attempt: int) -> web.StreamResponse:
        fault = re.match(r"(\w+)x(\d+)", prompt)
        if fault and attempt <= int(fault.group(2)):
            kind = fault.group(1)
            if kind == "429":
                return web.json_response({"error": {"message": "slow down"}}, status=429,
                                         headers={"Retry-After": str(RETRY_AFTER)})
            if kind in ("500", "400"):
                return web.json_response({"error": {"message": f"fault {kind}"}}, status=int(kind))
            if kind == "hang":
                await asyncio.sleep(3600)
            if kind == "malformed":
                return web.Response(text='{"choices": [ broken', content_type="application/json")
            if kind == "nochoices":
                return web.json_response({"object": "chat.completion"})
        delay = re.match(r"delay:([\d.]+)", prompt)
        if delay:
            await asyncio.sleep(float(delay.group(1)))
        text = f"echo {prompt}"
        data = completion(text, len(prompt.split()), bool(body.get("logprobs")), int(body.get("top_logprobs") or 0))
        data["model"] = self.reported_model or body.get("model", "fake")
        return web.json_response(data)

    def start(self) -> None:
        """Serve on a free port from a daemon thread; returns when listening."""
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self._handle)
            self.runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True, shutdown_timeout=0.5)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(serve())
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)

    @property
    def url(self) -> str:
        """The OpenAI base URL of this server."""
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        """Shut the server down."""
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
