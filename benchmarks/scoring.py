"""Scoring benchmarks: concurrent prompts versus one at a time, and parse rates on the real embedded LLM.

    .venv/bin/python benchmarks/scoring.py            # concurrency, simulated 0.2 s remote latency
    .venv/bin/python benchmarks/scoring.py --real     # also: SmolLM2-135M on llama.cpp, free vs structured

The baseline of the first figure is measured in the same run: the same prompts awaited one by one
(what delphi does per latent). The second figure counts unparseable replies of the real model.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from interp_fixtures import ScriptedClient, make_record  # noqa: E402

from autointerp.records import Explanation  # noqa: E402
from autointerp.scorers import DetectionScorer, FuzzScorer, IntruderScorer  # noqa: E402


class RemoteLike(ScriptedClient):
    """Answers from the ground truth after a fixed latency, at most `limit` calls in flight."""

    def __init__(self, latency: float, limit: int = 32) -> None:
        super().__init__("truth")
        self.latency = latency
        self.gate = asyncio.Semaphore(limit)

    async def generate(self, messages, **kwargs):
        async with self.gate:
            await asyncio.sleep(self.latency)  # models a remote API's round trip
            return await super().generate(messages, **kwargs)


def spec_sized_record():
    """The fixture record grown to the spec's sizes: 50 test examples and 50 negatives."""
    record = make_record()
    record.test = [record.test[i % len(record.test)] for i in range(50)]
    record.negatives = [record.negatives[i % len(record.negatives)] for i in range(50)]
    return record


async def concurrency(latency: float) -> None:
    """Detection on one latent: gathered prompts (ours) versus the same prompts one at a time."""
    record, scorer = spec_sized_record(), DetectionScorer()
    explanation = Explanation(latent=record.latent, text="the word cat", explainer="default")
    client = RemoteLike(latency)
    start = time.perf_counter()
    for batch in scorer.batches(record):
        await client.generate(scorer.build_messages(explanation.text, batch), max_tokens=64)
    sequential = time.perf_counter() - start
    start = time.perf_counter()
    result = await scorer.score(record, explanation, RemoteLike(latency))
    gathered = time.perf_counter() - start
    n = len(scorer.batches(record))
    print(f"detection, 1 latent, {n} prompts, {latency:.1f} s latency: one at a time {sequential:.2f} s, "
          f"gathered {gathered:.2f} s, ratio {sequential / gathered:.1f}x "
          f"(balanced accuracy {result.metrics['balanced_accuracy']:.2f})")


async def real(structured: bool) -> None:
    """Unparseable replies of SmolLM2-135M on the fixture record, per scorer."""
    from autointerp.clients import LlamaCppServer, OpenAICompatibleClient, embedded_gguf_path
    from autointerp.explainers import DefaultExplainer, ExplanationError

    with LlamaCppServer(embedded_gguf_path(), n_threads=2) as server:
        client = OpenAICompatibleClient(server.model, server.base_url, api_key_env=None, cache=False,
                                        max_concurrency=4, json_schema_as="json_object")
        record = make_record()
        start = time.perf_counter()
        try:
            text = (await DefaultExplainer(structured=structured, max_tokens=60).explain(record, client)).text
        except ExplanationError as err:
            text = f"ExplanationError: {err}"
        print(f"structured={structured} explainer {time.perf_counter() - start:.1f} s: {text[:80]!r}")
        explanation = Explanation(latent=record.latent, text="the word cat", explainer="fixed")
        for scorer in (DetectionScorer(structured=structured), FuzzScorer(structured=structured),
                       IntruderScorer(structured=structured)):
            start = time.perf_counter()
            result = await scorer.score(record, explanation, client)
            prompts = len({id(s) for s in result.samples}) if scorer.name == "intruder" else -(-len(result.samples) // 5)
            headline = result.metrics.get("balanced_accuracy", result.metrics.get("accuracy"))
            print(f"structured={structured} {scorer.name}: {result.n_unparseable}/{prompts} replies unparseable, "
                  f"headline {headline}, {time.perf_counter() - start:.1f} s")


def main() -> None:
    """Run the benchmarks and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--real", action="store_true", help="also run the embedded LLM (minutes on 2 cores)")
    args = parser.parse_args()
    asyncio.run(concurrency(args.latency))
    if args.real:
        asyncio.run(real(False))
        asyncio.run(real(True))


if __name__ == "__main__":
    main()
