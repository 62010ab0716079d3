"""ShardSink: flushing, deduplication, atomic files, manifest last; checked against a direct build."""

from __future__ import annotations

import os

import numpy as np
import pytest
from safetensors.numpy import load_file

from autointerp.latents import format as fmt
from autointerp.latents.format import CacheReader, build_shard_arrays
from autointerp.latents.writer import ShardSink, build_manifest, check_files_visible, rows_to_drop, write_manifest

CTX, D_SAE = 8, 16


def random_batch(rng, rows):
    """tokens [B, CTX] and ~3 nonzeros per token for two hookpoints."""
    tokens = rng.integers(0, 1000, size=(len(rows), CTX))
    latents = {}
    for hp in ("layers.1", "layers.2"):
        n = len(rows) * CTX * 3
        token_index = (np.repeat(rows, CTX * 3) * CTX + np.tile(np.repeat(np.arange(CTX), 3), len(rows))).astype(np.int64)
        latent = rng.integers(0, D_SAE, size=n)
        value = rng.random(n).astype(np.float32) * 10
        latents[hp] = (token_index, latent, value)
    return tokens, latents


def fill(sink, rng, n_rows, batch=4, duplicate=()):
    """Add n_rows rows in batches (plus re-sent `duplicate` rows); return the unique data sent."""
    sent = {}
    for start in range(0, n_rows, batch):
        rows = np.arange(start, min(start + batch, n_rows))
        rows = np.concatenate([rows, [r for r in duplicate if r < start]]).astype(np.int64)
        tokens, latents = random_batch(rng, rows)
        for i, r in enumerate(rows):
            sent.setdefault(int(r), (tokens[i], {hp: _row_nz(nz, r) for hp, nz in latents.items()}))
        sink.add(rows, tokens, latents)
    return sent


def _row_nz(nz, row):
    mask = nz[0] // CTX == row
    return tuple(a[mask] for a in nz)


def meta():
    return {"hookpoints": ["layers.1", "layers.2"], "d_sae": {"layers.1": D_SAE, "layers.2": D_SAE}, "model": "m"}


def expected_latent(sent, hp, j):
    """Independent per-latent view of what was sent: sorted token indices and float16-rounded values."""
    ti = np.concatenate([nz[hp][0][nz[hp][1] == j] for _, nz in sent.values()])
    va = np.concatenate([nz[hp][2][nz[hp][1] == j] for _, nz in sent.values()])
    order = np.argsort(ti)
    return ti[order], va[order].astype(np.float16).astype(np.float32)


def test_several_flushed_shards_equal_one_big_shard(tmp_path):
    rng = np.random.default_rng(0)
    small = ShardSink(tmp_path / "small", {"layers.1": D_SAE, "layers.2": D_SAE}, flush_tokens=3 * CTX)
    sent = fill(small, rng, 20)
    part = small.close()
    assert len(part["shards"]["layers.1"]) == 5  # 5 batches of 4 rows, each past the 3-row flush threshold
    write_manifest(tmp_path / "small", build_manifest([part], meta()))

    big = ShardSink(tmp_path / "big", {"layers.1": D_SAE, "layers.2": D_SAE}, flush_tokens=10**9)
    fill(big, np.random.default_rng(0), 20)
    big_part = big.close()
    assert len(big_part["shards"]["layers.1"]) == 1
    write_manifest(tmp_path / "big", build_manifest([big_part], meta()))

    a, b = CacheReader(tmp_path / "small"), CacheReader(tmp_path / "big")
    assert a.manifest.per_hookpoint["layers.2"].nnz == 20 * CTX * 3
    for hp in ("layers.1", "layers.2"):
        for j in range(D_SAE):
            la, lb = a.latent(hp, j), b.latent(hp, j)
            ti, va = expected_latent(sent, hp, j)
            np.testing.assert_array_equal(la.token_index, ti)
            np.testing.assert_array_equal(lb.token_index, ti)
            np.testing.assert_array_equal(la.activations, va)
            np.testing.assert_array_equal(lb.activations, va)
    np.testing.assert_array_equal(a.tokens, np.stack([sent[r][0] for r in range(20)]))


def test_shard_arrays_match_build_shard_arrays(tmp_path):
    rng = np.random.default_rng(1)
    sink = ShardSink(tmp_path, {"layers.1": D_SAE, "layers.2": D_SAE}, flush_tokens=10**9)
    sent = fill(sink, rng, 6)
    part = sink.close()
    nz = [np.concatenate([sent[r][1]["layers.1"][i] for r in range(6)]) for i in range(3)]
    want = build_shard_arrays(*nz, d_sae=D_SAE)
    got = load_file(str(tmp_path / part["shards"]["layers.1"][0]))
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])
    assert got["token_index"].dtype == np.int32 and got["activations"].dtype == np.float16


def test_duplicated_rows_are_dropped(tmp_path):
    rng = np.random.default_rng(2)
    sink = ShardSink(tmp_path, {"layers.1": D_SAE, "layers.2": D_SAE}, flush_tokens=2 * CTX)
    sent = fill(sink, rng, 12, duplicate=(0, 1, 5))
    part = sink.close()
    assert sorted(part["rows"].tolist()) == list(range(12))
    assert part["nnz"]["layers.1"] == 12 * CTX * 3
    write_manifest(tmp_path, build_manifest([part], meta()))
    reader = CacheReader(tmp_path)
    ti, _ = expected_latent(sent, "layers.1", 3)
    np.testing.assert_array_equal(reader.latent("layers.1", 3).token_index, ti)


def test_rows_held_by_a_lower_rank_are_dropped_at_close(tmp_path):
    rng = np.random.default_rng(3)
    r0 = ShardSink(tmp_path, {"layers.1": D_SAE, "layers.2": D_SAE}, rank=0, flush_tokens=4 * CTX)
    r1 = ShardSink(tmp_path, {"layers.1": D_SAE, "layers.2": D_SAE}, rank=1, flush_tokens=4 * CTX)
    sent = fill(r0, rng, 8)
    rows1 = np.array([8, 9, 10, 0, 1])  # a padding sampler repeats rows 0 and 1 on rank 1
    tokens1, latents1 = random_batch(rng, rows1)
    for i, r in enumerate(rows1[:3]):
        sent[int(r)] = (tokens1[i], {hp: _row_nz(nz, r) for hp, nz in latents1.items()})
    r1.add(rows1, tokens1, latents1)
    rows = [r0.rows, r1.rows]
    np.testing.assert_array_equal(rows_to_drop(rows, 1), [0, 1])
    assert len(rows_to_drop(rows, 0)) == 0
    parts = [r0.close(rows_to_drop(rows, 0)), r1.close(rows_to_drop(rows, 1))]
    manifest = build_manifest(parts, meta())
    assert manifest.n_rows == 11 and manifest.n_tokens == 11 * CTX
    assert manifest.per_hookpoint["layers.2"].nnz == 11 * CTX * 3
    write_manifest(tmp_path, manifest)
    reader = CacheReader(tmp_path)
    np.testing.assert_array_equal(reader.tokens, np.stack([sent[r][0] for r in range(11)]))
    for j in range(D_SAE):
        ti, va = expected_latent(sent, "layers.2", j)
        np.testing.assert_array_equal(reader.latent("layers.2", j).token_index, ti)
        np.testing.assert_array_equal(reader.latent("layers.2", j).activations, va)


def test_files_appear_atomically_and_manifest_last(tmp_path, monkeypatch):
    placed = []
    real_replace = os.replace

    def recording_replace(src, dst):
        placed.append(os.path.relpath(dst, tmp_path))
        return real_replace(src, dst)

    monkeypatch.setattr(fmt.os, "replace", recording_replace)
    sink = ShardSink(tmp_path, {"layers.1": D_SAE, "layers.2": D_SAE}, flush_tokens=2 * CTX)
    fill(sink, np.random.default_rng(4), 10)
    write_manifest(tmp_path, build_manifest([sink.close()], meta()))
    on_disk = sorted(os.path.relpath(os.path.join(d, f), tmp_path) for d, _, fs in os.walk(tmp_path) for f in fs)
    assert on_disk == sorted(placed)  # every file was renamed into place whole; no temp or spill files remain
    assert placed[-1] == "manifest.json"
    assert "tokens-rank0.safetensors" in placed


def test_bad_settings_are_named(tmp_path):
    with pytest.raises(ValueError, match="flush_tokens"):
        ShardSink(tmp_path, {"a": 4}, flush_tokens=0)
    with pytest.raises(ValueError, match="activation_dtype"):
        ShardSink(tmp_path, {"a": 4}, activation_dtype="int8")
    sink = ShardSink(tmp_path, {"a": 4})
    with pytest.raises(ValueError, match="hookpoints"):
        sink.add(np.array([0]), np.zeros((1, CTX)), {"b": (np.zeros(0), np.zeros(0), np.zeros(0))})
    with pytest.raises(ValueError, match="row indices"):
        sink.add(np.array([-1]), np.zeros((1, CTX)), {"a": (np.zeros(0), np.zeros(0), np.zeros(0))})


@pytest.mark.parametrize("descending", [False, True])
def test_shard_from_parts_equals_build_shard_arrays(descending):
    from autointerp.latents.writer import _compact, shard_from_parts

    rng = np.random.default_rng(7)
    parts = []
    for b in range(5):
        rows = np.arange(4 * b, 4 * b + 4)[::-1] if descending else np.arange(4 * b, 4 * b + 4)
        _, latents = random_batch(rng, rows)
        nz = latents["layers.1"]
        if descending:  # rows and tokens arrive out of order: the fallback path
            nz = tuple(a[::-1] for a in nz)
        parts.append(_compact(nz))
    got = shard_from_parts(parts, D_SAE)
    want = build_shard_arrays(*[np.concatenate([p[i] for p in parts]) for i in range(3)], d_sae=D_SAE)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])
        assert got[key].dtype == want[key].dtype
    with pytest.raises(ValueError, match="latent indices"):
        shard_from_parts([(np.array([0]), np.array([D_SAE]), np.array([1.0]))], D_SAE)


def test_rank_zero_refuses_a_manifest_over_files_it_cannot_see(tmp_path):
    # Two "nodes" with unshared disks: rank 1 wrote to its own folder, rank 0 sees only its own.
    rng = np.random.default_rng(3)
    parts = []
    for rank, folder in ((0, tmp_path / "node0"), (1, tmp_path / "node1")):
        sink = ShardSink(folder, {"layers.1": D_SAE, "layers.2": D_SAE}, rank=rank)
        rows = np.arange(2) + 2 * rank
        sink.add(rows, *random_batch(rng, rows))
        parts.append(sink.close())
    check_files_visible(tmp_path / "node0", parts[:1])  # its own files: fine
    with pytest.raises(RuntimeError, match=r"output_dir: 3 files written by other ranks are not visible.*rank 1: tokens-rank1"):
        check_files_visible(tmp_path / "node0", parts)


def test_a_rank_without_rows_writes_no_token_file(tmp_path):
    empty = ShardSink(tmp_path, {"layers.1": D_SAE, "layers.2": D_SAE}, rank=1).close()
    assert empty["token_file"] is None and empty["shards"] == {"layers.1": [], "layers.2": []}
    full = ShardSink(tmp_path, {"layers.1": D_SAE, "layers.2": D_SAE}, rank=0)
    full.add(np.arange(3), *random_batch(np.random.default_rng(0), np.arange(3)))
    manifest = build_manifest([full.close(), empty], {"hookpoints": ["layers.1", "layers.2"], "d_sae": {"layers.1": D_SAE, "layers.2": D_SAE}})
    write_manifest(tmp_path, manifest)
    assert manifest.token_files == ["tokens-rank0.safetensors"]
    assert CacheReader(tmp_path).tokens.shape == (3, CTX)
