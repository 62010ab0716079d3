"""Small synthetic caches and scripted stand-ins for the interpret stage's parts (orchestration tests only)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from autointerp.clients.accounting import Accounting, usage_stage  # noqa: F401  (usage_stage re-exported for tests)
from autointerp.clients.base import Client, Response
from autointerp.explainers.base import Explainer, ExplanationError
from autointerp.latents.format import MANIFEST, build_shard_arrays, hookpoint_dir, save_arrays, shard_name, write_tokens
from autointerp.io import write_json
from autointerp.records import ActivatingExample, Explanation, Latent, LatentRecord, NonActivatingExample, ScoredSample, ScoreResult
from autointerp.scorers.base import Scorer


def make_cache(run_dir: Path, *, d_sae: int = 8, n_rows: int = 6, ctx_len: int = 16, seed: int = 0,
               hookpoint: str = "layers.1", rates: np.ndarray | None = None) -> dict:
    """A tiny one-hookpoint cache in two shards; latent j fires with probability rates[j] per token."""
    rng = np.random.default_rng(seed)
    rates = np.linspace(0.05, 0.5, d_sae) if rates is None else rates
    dense = (rng.random((n_rows * ctx_len, d_sae)) < rates) * rng.uniform(0.5, 3.0, (n_rows * ctx_len, d_sae))
    latents_dir = run_dir / "latents"
    shards, half = [], n_rows // 2
    for k, (lo, hi) in enumerate([(0, half), (half, n_rows)]):
        block = dense[lo * ctx_len : hi * ctx_len]
        t, j = np.nonzero(block)
        arrays = build_shard_arrays(t + lo * ctx_len, j, block[t, j].astype(np.float32), d_sae, "float32")
        save_arrays(hookpoint_dir(latents_dir, hookpoint) / shard_name(0, k), arrays)
        shards.append(f"{hookpoint}/{shard_name(0, k)}")
    write_tokens(latents_dir, 0, np.arange(n_rows), rng.integers(0, 100, (n_rows, ctx_len)))
    manifest = {
        "format_version": 1, "model": "tiny-model", "sparse_model": "tiny-sae", "hookpoints": [hookpoint],
        "ctx_len": ctx_len, "n_rows": n_rows, "n_tokens": n_rows * ctx_len, "token_files": ["tokens-rank0.safetensors"],
        "per_hookpoint": {hookpoint: {"d_sae": d_sae, "shards": shards, "nnz": int((dense > 0).sum())}},
    }
    write_json(latents_dir / MANIFEST, manifest)
    return {"dense": dense, "manifest": manifest}


class FakeBuilder:
    """Builds a two-example record per latent; `skip` latents have too few examples."""

    def __init__(self, hookpoint: str = "layers.1", d_sae: int = 8, skip: tuple[int, ...] = ()):
        self.hookpoint, self.d_sae, self.skip = hookpoint, d_sae, set(skip)
        self.built: list[Latent] = []
        self.skip_reasons: dict[Latent, str] = {}

    def select_latents(self, hookpoints=None, max_latents=None, latents=None) -> list[Latent]:
        if latents:
            return [Latent(hp, i) for hp, idx in latents.items() for i in idx]
        return [Latent(self.hookpoint, i) for i in range(self.d_sae)][: max_latents or None]

    def build(self, latent: Latent) -> LatentRecord | None:
        self.built.append(latent)
        if latent.index in self.skip:
            self.skip_reasons[latent] = "1 activating windows < min_examples=2"
            return None
        act = np.array([0.0, 2.0, 1.0], np.float32)
        pos = ActivatingExample(row=latent.index, start=0, tokens=np.array([1, 2, 3]), activations=act, role="test")
        neg = NonActivatingExample(row=0, start=3, tokens=np.array([4, 5, 6]), activations=np.zeros(3, np.float32), role="negative")
        return LatentRecord(latent, train=[pos], test=[pos], negatives=[neg], firing_rate=0.1, max_activation=2.0)


class CountingClient(Client):
    """Answers "yes" to everything after `delay` seconds, counts calls and the peak of calls in flight."""

    model = "scripted"

    def __init__(self, delay: float = 0.0, accounting: Accounting | None = None):
        self.delay, self.calls, self.in_flight, self.peak = delay, 0, 0, 0
        self.accounting = accounting

    async def generate(self, messages, **settings) -> Response:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if self.accounting is not None:
            self.accounting.record(self.model, 10, 2, cached=False)
        return Response(text="yes", prompt_tokens=10, completion_tokens=2)


class FakeExplainer(Explainer):
    """One client call per latent; raises for the latents in `fail`."""

    name = "fake"

    def __init__(self, fail: tuple[int, ...] = ()):
        self.fail = set(fail)

    async def explain(self, record: LatentRecord, client: Client) -> Explanation:
        await client.generate([{"role": "user", "content": str(record.latent)}])
        if record.latent.index in self.fail:
            raise ExplanationError("reply could not be parsed")
        return Explanation(record.latent, f"explanation of {record.latent.index}", self.name, client.model)


class FakeScorer(Scorer):
    """One client call per latent; the metric is the latent index / 10 (so means are hand-computable)."""

    def __init__(self, name: str = "detection", needs_explanation: bool = True):
        self.name, self.needs_explanation = name, needs_explanation

    async def score(self, record, explanation, client) -> ScoreResult:
        await client.generate([{"role": "user", "content": f"{self.name} {record.latent}"}])
        sample = ScoredSample(row=record.test[0].row, start=0, role="test", activating=True, prediction=True)
        value = record.latent.index / 10
        metrics = {"f1": value, "balanced_accuracy": value, "balanced_accuracy_chance": 0.5}
        return ScoreResult(record.latent, self.name, explanation.text if explanation else None, [sample], metrics)
