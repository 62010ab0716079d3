"""A real cache for the steering tests: news text through the embedded SmolLM2 and the shipped SAE.

The rows are Lee's news corpus (gensim's test data) cut into 64-token rows; the nonzeros are the
shipped SAE's real TopK activations at layers.15, written with the real format writers, so the real
`RecordBuilder` builds the records the steering scorer scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autointerp.io import read_json, write_json
from autointerp.latents.format import MANIFEST

MODEL = "embedded:SmolLM2-135M-Instruct"
SAE = "assets/smollm2-135m-instruct-topk"
HP = "layers.15"
N_ROWS = 64


@dataclass
class World:
    """The loaded steerer, the run folder with its cache, the records and their logit-lens tokens."""

    steerer: Any
    tokenizer: Any
    run_dir: Path
    reader: Any
    records: list
    lens: dict
    """{latent: its top logit-lens tokens as the records carry them}."""
    lens_ids: dict
    """{latent: the ids of its 10 most promoted tokens, decoder row times effective unembedding}."""


def real_nonzeros(steerer: Any, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(token_index, latent, value, d_sae) of the shipped SAE on `tokens` [rows, ctx]."""
    import torch

    from autointerp.models.hookpoints import HookpointRunner
    from autointerp.models.sparse_coders import load_sparse_coders, resolve_sparse_model

    coder = load_sparse_coders(resolve_sparse_model(SAE), [HP])[HP]
    acts = HookpointRunner(steerer.model, [HP])(torch.from_numpy(tokens).long())[HP]  # [rows, ctx, d]
    with torch.no_grad():
        token, latent, value = coder.encode(acts.reshape(-1, acts.shape[-1]))
    keep = (token % tokens.shape[1]).numpy() != 0  # a row's first position is an attention sink: huge values
    return (token.numpy()[keep].astype(np.int64), latent.numpy()[keep].astype(np.int64),
            value.numpy()[keep].astype(np.float32), coder.d_sae)


def build_world(folder: Path, n_latents: int = 4) -> World:
    """The cache, the real records of `n_latents` latents that fire 20-120 times, and their lens tokens."""
    from examples.examples_cache import write_cache
    from judges import news_tokens

    from autointerp.examples import ExamplesConfig, RecordBuilder
    from autointerp.latents import CacheReader
    from autointerp.models.steer import load_steerer
    from autointerp.models.subject import load_tokenizer
    from autointerp.pipeline.output_tokens import build_output_tokens
    from autointerp.records import Latent

    tokenizer = load_tokenizer(MODEL)
    steerer = load_steerer(MODEL, SAE, [HP], device="cpu")
    tokens = news_tokens(tokenizer)[:N_ROWS].astype(np.int32)
    token_index, latent, value, d_sae = real_nonzeros(steerer, tokens)
    run_dir = folder / "run"
    latents_dir = write_cache(run_dir / "latents", tokens, {HP: (token_index, latent, value)}, {HP: d_sae})
    manifest = read_json(latents_dir / MANIFEST)
    write_json(latents_dir / MANIFEST, {**manifest, "model": MODEL, "sparse_model": SAE})
    reader = CacheReader(latents_dir)
    config = ExamplesConfig(min_examples=10, n_examples_train=5, n_examples_test=5, n_non_activating=5,
                            example_ctx_len=16)
    builder = RecordBuilder(reader, config, tokenizer)
    counts = np.bincount(latent, minlength=d_sae)
    chosen = [int(j) for j in np.flatnonzero((counts >= 20) & (counts <= 120))]
    records = [r for r in (builder.build(Latent(HP, j)) for j in chosen[: 3 * n_latents]) if r is not None][:n_latents]
    lens = build_output_tokens(MODEL, SAE, [HP], tokenizer)
    for record in records:
        record.top_output_tokens = lens.tokens(record.latent)
    ids = {r.latent: (lens.unembedding @ lens.decoders[HP][r.latent.index]).topk(10).indices.tolist() for r in records}
    return World(steerer, tokenizer, run_dir, reader, records, {r.latent: r.top_output_tokens for r in records}, ids)
