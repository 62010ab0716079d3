"""The memory-mapped CacheReader: shards in any order, rows interleaved across ranks, empty shards."""

from __future__ import annotations

import numpy as np

from autointerp.latents import CacheReader
from autointerp.latents.format import (
    MANIFEST,
    build_shard_arrays,
    map_safetensors,
    save_arrays,
    write_json,
    write_tokens,
)


def test_interleaved_and_empty_shards_read_back_in_order(tmp_path):
    rng = np.random.default_rng(0)
    n_rows, ctx, d_sae = 12, 16, 6
    dense = np.where(rng.random((n_rows * ctx, d_sae)) < 0.2, rng.integers(1, 50, (n_rows * ctx, d_sae)) / 4, 0)
    dense[:, 5] = 0  # a latent that never fires
    shards = []
    # ranks take alternate rows (as a distributed sampler deals them), and rank 2 has no rows
    for rank, rows in enumerate([np.arange(0, n_rows, 2), np.arange(1, n_rows, 2), np.zeros(0, int)]):
        tokens = (rows[:, None] * ctx + np.arange(ctx)).ravel()
        token_index, latent = np.nonzero(dense[tokens])
        arrays = build_shard_arrays(tokens[token_index], latent, dense[tokens][token_index, latent], d_sae)
        name = f"hp/shard-r{rank}-0.safetensors"
        save_arrays(tmp_path / name, arrays)
        shards.append(name)
    token_files = [write_tokens(tmp_path, 0, np.arange(n_rows), np.zeros((n_rows, ctx))).name]
    write_json(tmp_path / MANIFEST, {"hookpoints": ["hp"], "ctx_len": ctx, "n_rows": n_rows, "token_files": token_files,
                                     "per_hookpoint": {"hp": {"d_sae": d_sae, "shards": shards}}})  # fmt: skip
    reader = CacheReader(tmp_path)
    for j in range(d_sae):
        acts = reader.latent("hp", j)
        expected = np.flatnonzero(dense[:, j])
        np.testing.assert_array_equal(acts.token_index, expected)
        np.testing.assert_array_equal(acts.activations, dense[expected, j].astype(np.float32))
    assert len(reader.latent("hp", 5).token_index) == 0
    empty = map_safetensors(tmp_path / shards[2])
    assert empty["token_index"].shape == (0,) and empty["latent_offsets"].tolist() == [0] * (d_sae + 1)
