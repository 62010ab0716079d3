"""The programmatic `LatentCache` writes the same cache as an independent forward + hand encode."""

from __future__ import annotations

import pytest
import torch
from cache_helpers import assert_same_nonzeros, cached_nonzeros, make_sparsify_sae, make_tiny_model, random_rows, reference_nonzeros

from autointerp.latents import CacheReader, LatentCache
from autointerp.models.sparse_coders import load_sparse_coders
from autointerp.models.subject import load_subject

CTX = 16


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("latent-cache")
    model_dir = make_tiny_model(root / "model", seed=3)
    weights = {hp: make_sparsify_sae(root / "sae", hp, seed=10 + i) for i, hp in enumerate(["layers.0", "layers.2"])}
    model, _ = load_subject(str(model_dir))
    coders = load_sparse_coders(str(root / "sae"), list(weights))
    return model_dir, model, coders, weights


def test_run_and_save_match_the_reference(setup, tmp_path):
    model_dir, model, coders, weights = setup
    tokens = random_rows(13, CTX, seed=5)
    cache = LatentCache(model, coders, batch_size=3, flush_tokens=4 * CTX)
    cache.run(n_tokens=10 * CTX + 5, tokens=tokens)  # whole rows only: 10 of the 13
    manifest = cache.save(tmp_path / "latents", model=str(model_dir), sparse_model="sae")
    reader = CacheReader(manifest.parent)
    assert reader.manifest.n_rows == 10 and reader.manifest.model == str(model_dir)
    assert len(reader.shard_paths("layers.0")) == 2  # batches of 3,3,3,1 rows; a flush at 6 rows and at the end
    want = reference_nonzeros(model_dir, weights, tokens[:10], torch.arange(10), batch_size=3)
    for hp in weights:
        assert_same_nonzeros(cached_nonzeros(reader, hp), want[hp])
    assert torch.equal(torch.from_numpy(reader.tokens).long(), tokens[:10])
    assert not any(p.name.startswith(".") for p in reader.dir.rglob("*"))  # no temp or spill files left


def test_run_into_save_dir_and_filter_bos(setup, tmp_path):
    model_dir, model, coders, weights = setup
    tokens = random_rows(4, CTX, seed=6, bos_every=3)
    cache = LatentCache(model, {"layers.2": coders["layers.2"]}, batch_size=2, filter_bos=True)
    cache.run(n_tokens=4 * CTX, tokens=tokens, save_dir=tmp_path / "c")
    reader = CacheReader(cache.save(tmp_path / "c").parent)
    want = reference_nonzeros(model_dir, {"layers.2": weights["layers.2"]}, tokens, torch.arange(4), 2, bos_token_id=1)
    assert_same_nonzeros(cached_nonzeros(reader, "layers.2"), want["layers.2"])
    assert reader.manifest.filter_bos is True


def test_bad_arguments_are_named(setup):
    _, model, coders, _ = setup
    with pytest.raises(ValueError, match="smaller than one row"):
        LatentCache(model, coders).run(n_tokens=CTX - 1, tokens=random_rows(2, CTX))
    with pytest.raises(ValueError, match="batch_size"):
        LatentCache(model, coders, batch_size=0)
    with pytest.raises(ValueError, match=r"unknown hookpoint\(s\) \['layers.7'\]"):
        LatentCache(model, {"layers.7": coders["layers.0"]})
    with pytest.raises(RuntimeError, match="run"):
        LatentCache(model, coders).save("nowhere")
