"""Interpret-stage concurrency: latents/s with `pipeline_num_proc` P against one latent at a time.

A client with a fixed latency per request (asyncio.sleep: a server that is never the bottleneck)
answers a cheap explainer (1 request) and two scorers (2 requests each, concurrent). Sequential
(P=1) costs about 2 x latency per latent; with P latents in flight the stage should approach
P times that, minus its own overhead (record building in a thread, atomic JSON writes, resume
checks). A second run over the finished folder measures the resume check alone.

    .venv/bin/python benchmarks/interpret_stage.py [--latents 200] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pipeline_fakes import FakeBuilder, FakeExplainer, FakeScorer, make_cache  # noqa: E402

from autointerp.clients.base import Client, Response  # noqa: E402
from autointerp.examples.config import ExamplesConfig  # noqa: E402
from autointerp.pipeline.config import InterpretConfig  # noqa: E402
from autointerp.pipeline.run import Parts, interpret  # noqa: E402


class LatencyClient(Client):
    """Answers every request after `latency` seconds."""

    model = "latency"

    def __init__(self, latency: float):
        self.latency, self.calls = latency, 0

    async def generate(self, messages, **settings) -> Response:
        self.calls += 1
        await asyncio.sleep(self.latency)
        return Response(text="yes", prompt_tokens=10, completion_tokens=1)


class TwoCallScorer(FakeScorer):
    """Two prompts per latent, sent concurrently (as the real scorers batch their examples)."""

    async def score(self, record, explanation, client):
        first, _ = await asyncio.gather(super().score(record, explanation, client), client.generate([{"role": "user", "content": "2"}]))
        return first


def run(folder: Path, n_latents: int, latency: float, procs: int) -> tuple[float, int]:
    """Seconds and requests for one interpret over `n_latents` latents."""
    client = LatencyClient(latency)
    parts = Parts(client=client, explainer=FakeExplainer(), builder=FakeBuilder(d_sae=n_latents),
                  scorers={"detection": TwoCallScorer("detection"), "fuzz": TwoCallScorer("fuzz")})
    config = InterpretConfig(examples=ExamplesConfig(min_examples=1), mlflow=False, report=False, pipeline_num_proc=procs)
    start = time.perf_counter()
    interpret(folder, config, None, parts)
    return time.perf_counter() - start, client.calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latents", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-interpret-"))
    try:
        rows = []
        for procs in (1, 8, 32, 120):
            folder = root / f"p{procs}"
            make_cache(folder, d_sae=max(args.latents, 8))
            seconds, calls = run(folder, args.latents, args.latency, procs)
            rows.append((procs, seconds, calls))
        resume_s, resume_calls = run(root / "p120", args.latents, args.latency, 120)
        base = rows[0][1]
        ideal_sequential = args.latents * 2 * args.latency
        print(f"{args.latents} latents, 5 requests each (explain, then 2 scorers x 2 concurrent), latency {args.latency * 1000:.0f} ms")
        print(f"sequential floor (2 latency steps per latent): {ideal_sequential:.2f} s")
        print("| pipeline_num_proc | seconds | requests | latents/s | speed-up vs P=1 | of ideal P x |")
        print("|---|---|---|---|---|---|")
        for procs, seconds, calls in rows:
            ideal = min(procs, args.latents)
            print(f"| {procs} | {seconds:.2f} | {calls} | {args.latents / seconds:.1f} | {base / seconds:.1f}x | {base / seconds / ideal:.2f} |")
        print(f"| resume of the finished P=120 run | {resume_s:.2f} | {resume_calls} | {args.latents / resume_s:.0f} | | |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
