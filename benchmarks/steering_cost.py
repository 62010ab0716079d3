"""The steering scorer's cost per latent on the embedded default: LLM calls, tokens, generation seconds.

A real cache (Lee's news corpus through SmolLM2-135M and the shipped SAE at layers.15, as the
steering tests build it), then the interpret stage as the quickstart runs it: the same SmolLM2 GGUF
served by llama.cpp on 127.0.0.1 explains (structured) and judges; the steering scorer continues
its prompts with transformers on the CPU (or CUDA when visible).

    .venv/bin/python benchmarks/steering_cost.py --latents 8
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "scorers")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latents", type=int, default=8)
    parser.add_argument("--variant", default="pair", choices=["pair", "explanations"])
    parser.add_argument("--n_prompts", type=int, default=8)
    parser.add_argument("--new_tokens", type=int, default=16)
    args = parser.parse_args()

    from steering_world import HP, build_world

    from autointerp.clients import LlamaCppClient
    from autointerp.examples import ExamplesConfig
    from autointerp.explainers import DefaultExplainer
    from autointerp.pipeline.config import InterpretConfig
    from autointerp.pipeline.run import interpret
    from autointerp.scorers import SteeringScorer

    start = time.perf_counter()
    world = build_world(Path(tempfile.mkdtemp()), n_latents=args.latents)
    print(f"cache and records: {time.perf_counter() - start:.0f} s, {len(world.records)} latents")
    run_dir = world.run_dir
    config = InterpretConfig(
        client=LlamaCppClient(model="SmolLM2-135M-Instruct", max_concurrency=4), serve_gguf="embedded",
        explainer=DefaultExplainer(context_length=4096, structured=True),
        scorers=[SteeringScorer(variant=args.variant, n_prompts=args.n_prompts, new_tokens=args.new_tokens,
                                structured=True, steerer=world.steerer)],
        examples=ExamplesConfig(min_examples=10, n_examples_train=5, n_examples_test=5, n_non_activating=5,
                                example_ctx_len=16),
        latents={HP: [r.latent.index for r in world.records]}, pipeline_num_proc=4, mlflow=False, report=False)
    summary = interpret(run_dir, config)
    report(summary, run_dir, HP, len(world.records))


def report(summary: dict, run_dir: Path, hookpoint: str, n: int) -> None:
    """Per latent: judge calls and tokens (from the accounting), generation seconds and tokens (from the scores)."""
    usage = summary["usage"].get("score/steering", {})
    busy = summary["timing_s"].get("busy/score/steering", 0.0)
    metrics = [json.loads(p.read_text())["metrics"] for p in sorted((run_dir / "scores" / "steering" / hookpoint).glob("*.json"))]
    gen_s = [m["generation_s"] for m in metrics if "generation_s" in m]
    gen_tokens = [m["generated_tokens"] for m in metrics if "generated_tokens" in m]
    print(json.dumps(summary["per_hookpoint"][hookpoint]["steering"].get("accuracy", {}), indent=1))
    n = len(metrics)  # judged latents only: a latent whose explanation failed is never steered
    print(f"latents scored: {n}")
    print("| per latent | value |\n|---|---|")
    print(f"| judge calls | {usage.get('calls', 0) / n:.1f} |")
    print(f"| judge prompt tokens | {usage.get('prompt_tokens', 0) / n:.0f} |")
    print(f"| judge completion tokens | {usage.get('completion_tokens', 0) / n:.1f} |")
    print(f"| generated tokens (subject model) | {statistics.mean(gen_tokens):.0f} |")
    print(f"| generation seconds (median) | {statistics.median(gen_s):.1f} |")
    print(f"| scorer busy seconds (generation + judge, mean) | {busy / n:.1f} |")


if __name__ == "__main__":
    main()
