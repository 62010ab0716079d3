"""Client throughput against a local server that adds a fixed latency per request.

    .venv/bin/python benchmarks/clients.py [--latency 0.5] [--requests 1000] [--concurrency 8 32 64]

The server runs in its own process. For each concurrency C it sends N distinct requests at once
through OpenAICompatibleClient(max_concurrency=C) and prints the wall time as a ratio of the ideal
N x latency / C (the target is <= 1.1), the peak in-flight count the server saw, the client and
server CPU per request, and the speed-up over a concurrency-1 baseline (delphi's setting for remote
APIs) measured in the same run. Each concurrency runs twice, back to back: with the code before
(requests through the openai SDK's low-level `post` over its aiohttp transport) and with ours
(plain aiohttp, `autointerp.clients.openai_wire.ChatEndpoint`). Then it repeats the C=max run
with the response cache warm: it must send zero requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def serve(port: int, latency: float) -> None:
    """The latency server: answers every chat completion after `latency` seconds; /stats gives counts."""
    from aiohttp import web

    stats = {"requests": 0, "in_flight": 0, "max_in_flight": 0, "cpu_s": 0.0}

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        stats["requests"] += 1
        stats["in_flight"] += 1
        stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
        try:
            await asyncio.sleep(latency)
        finally:
            stats["in_flight"] -= 1
        text = "ok " + body["messages"][-1]["content"]
        return web.json_response({
            "id": "b", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
        })

    async def read_stats(request: web.Request) -> web.Response:
        if request.query.get("reset"):
            stats.update(requests=0, in_flight=0, max_in_flight=0, cpu0=time.process_time())
        return web.json_response({**stats, "cpu_s": time.process_time() - stats.get("cpu0", 0.0)})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/stats", read_stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def stats(port: int, reset: bool = False) -> dict:
    """The server's counts (optionally reset)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats{'?reset=1' if reset else ''}", timeout=5) as reply:
        return json.loads(reply.read())


CPU = {"client_s": 0.0}


def timed_run(url: str, n: int, concurrency: int, cache_path: str | None, tag: str = "") -> float:
    """Seconds to answer n distinct requests at the given concurrency, after one untimed warm-up
    request (the openai import and the first connection are not what is measured)."""
    from autointerp.clients import OpenAICompatibleClient

    client = OpenAICompatibleClient("bench", url, max_concurrency=concurrency, cache=cache_path is not None,
                                    cache_path=cache_path)

    async def go() -> float:
        await client.generate([{"role": "user", "content": f"warm-up {time.time()}"}], max_tokens=4)
        messages = [[{"role": "user", "content": f"request {tag}{i}"}] for i in range(n)]
        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client.generate(m, max_tokens=4) for m in messages))
        wall = time.perf_counter() - start
        CPU["client_s"] = time.process_time() - cpu
        await client.close()
        return wall

    return asyncio.run(go())


class SDKEndpoint:
    """The baseline: the code before, the openai SDK's low-level `post` over its aiohttp transport."""

    def __init__(self, base_url: str, api_key: str) -> None:
        """One SDK client per server, as the old `_loop_state` built them."""
        import openai

        self.client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0,
                                         http_client=openai.DefaultAioHttpClient())

    async def post(self, body: dict, timeout: float) -> object:
        """The old `_send` without its error mapping (the latency server never fails)."""
        return await self.client.post("/chat/completions", body=body, cast_to=object, options={"timeout": timeout})

    async def close(self) -> None:
        """Close the SDK's pool."""
        await self.client.close()


def sweep(url: str, port: int, args: argparse.Namespace, per_call: float) -> None:
    """At each concurrency: the baseline transport (the openai SDK) and ours (plain aiohttp), back to back."""
    from autointerp.clients import openai_compatible

    ours = openai_compatible.ChatEndpoint
    try:
        for c in args.concurrency:
            for name, endpoint in (("openai SDK", SDKEndpoint), ("aiohttp", ours)):
                openai_compatible.ChatEndpoint = endpoint
                stats(port, reset=True)
                wall = timed_run(url, args.requests, c, None, tag=f"{name}-c{c}-")
                ideal = args.requests * args.latency / c
                seen = stats(port)
                print(f"C={c:3d} {name:10s}: {wall:6.2f} s for {seen['requests'] - 1} requests; ideal {ideal:6.2f} s; "
                      f"ratio {wall / ideal:.3f}; peak in flight {seen['max_in_flight']}; "
                      f"speed-up over C=1 {per_call * args.requests / wall:.1f}x; CPU per request: client "
                      f"{CPU['client_s'] / args.requests * 1000:.2f} ms, server {seen['cpu_s'] / args.requests * 1000:.2f} ms; "
                      f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    finally:
        openai_compatible.ChatEndpoint = ours


def wait_ready(port: int) -> None:
    """Poll /stats until the server answers."""
    for _ in range(100):
        try:
            stats(port)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("latency server did not start")


def main() -> None:
    """Run the sweep and print one line per concurrency."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds the server waits per request")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--baseline_requests", type=int, default=30, help="requests timed at concurrency 1")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.latency)
    from autointerp.clients.llamacpp_server import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--latency", str(args.latency)])
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_ready(port)
        per_call = timed_run(url, args.baseline_requests, 1, None) / args.baseline_requests
        print(f"baseline concurrency 1: {per_call * 1000:.1f} ms per request (latency {args.latency * 1000:.0f} ms), "
              f"{args.requests} requests would take {per_call * args.requests:.1f} s")
        sweep(url, port, args, per_call)
        with tempfile.TemporaryDirectory() as folder:
            cache = str(Path(folder) / "responses.sqlite")
            c = max(args.concurrency)
            cold = timed_run(url, args.requests, c, cache)
            stats(port, reset=True)
            warm = timed_run(url, args.requests, c, cache)
            print(f"response cache, C={c}: cold {cold:.2f} s, warm rerun {warm:.2f} s "
                  f"with {stats(port)['requests'] - 1} HTTP requests (besides the warm-up)")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
