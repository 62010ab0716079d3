"""LatentCacheModule + LatentShardWriter under a real Trainer, against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cache_helpers import (
    HIDDEN, assert_same_nonzeros, cached_nonzeros, make_sparsify_sae, make_tiny_model, random_rows, reference_nonzeros,
)
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader

from autointerp.latents import CacheReader
from autointerp.models.cache_module import GIB, LatentCacheModule, check_free_memory
from autointerp.models.sparse_coders import resolve_sparse_model
from callbacks.shard_writer import LatentShardWriter

CTX, BATCH = 16, 4


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """A tiny model folder and an SAE folder with coders at layers.1 and layers.2."""
    root = tmp_path_factory.mktemp("cache-module")
    model_dir = make_tiny_model(root / "model")
    weights = {hp: make_sparsify_sae(root / "sae", hp, seed=i) for i, hp in enumerate(["layers.1", "layers.2"])}
    return model_dir, root / "sae", weights


def loader(input_ids: torch.Tensor, rows: torch.Tensor) -> DataLoader:
    """Batches shaped like TokenizedTextDataModule's: {"input_ids": [B, T], "row": [B]}."""
    items = [{"input_ids": ids, "row": row} for ids, row in zip(input_ids, rows)]
    return DataLoader(items, batch_size=BATCH, shuffle=False)


def run_predict(module, input_ids, rows, out_dir, flush_tokens=2 * BATCH * CTX):
    writer = LatentShardWriter(str(out_dir), flush_tokens=flush_tokens)
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=[writer])
    result = trainer.predict(module, loader(input_ids, rows), return_predictions=False)
    assert result is None
    return CacheReader(out_dir)


def test_cache_equals_plain_forward_and_hand_encode(assets, tmp_path):
    model_dir, sae_dir, weights = assets
    input_ids = random_rows(22, CTX, seed=1)
    rows = torch.arange(22) + 100  # global rows need not start at 0
    module = LatentCacheModule(str(model_dir), str(sae_dir), ["layers.1", "layers.2"])
    reader = run_predict(module, input_ids, rows, tmp_path / "latents")
    want = reference_nonzeros(model_dir, weights, input_ids, rows, BATCH)
    for hp in weights:
        assert len(reader.shard_paths(hp)) == 3  # 6 batches, flushed every 2 -> several shards
        assert_same_nonzeros(cached_nonzeros(reader, hp), want[hp])
    m = reader.manifest
    assert m.n_rows == 122 and m.n_tokens == 22 * CTX and m.ctx_len == CTX
    assert m.per_hookpoint["layers.2"].d_sae == 64
    assert m.per_hookpoint["layers.1"].nnz == len(want["layers.1"])
    assert m.model == str(model_dir) and m.hookpoints == ["layers.1", "layers.2"]
    assert m.dtypes["activations"] == "float16" and m.dtypes["token_index"] == "int32"
    assert torch.equal(torch.from_numpy(reader.tokens[100:]).long(), input_ids)


def test_filter_bos_drops_bos_positions_only(assets, tmp_path):
    model_dir, sae_dir, weights = assets
    input_ids = random_rows(8, CTX, seed=2, bos_every=5)
    rows = torch.arange(8)
    module = LatentCacheModule(str(model_dir), str(sae_dir), ["layers.2"], filter_bos=True)
    reader = run_predict(module, input_ids, rows, tmp_path / "latents")
    want = reference_nonzeros(model_dir, {"layers.2": weights["layers.2"]}, input_ids, rows, BATCH, bos_token_id=1)
    got = cached_nonzeros(reader, "layers.2")
    assert_same_nonzeros(got, want["layers.2"])
    assert not any(pos % 5 == 0 for _, pos, _ in got) and reader.manifest.filter_bos is True


def test_predict_step_returns_only_nonzeros(assets):
    model_dir, sae_dir, _ = assets
    module = LatentCacheModule(str(model_dir), str(sae_dir), ["layers.1"])
    module.load("cpu")
    out = module.predict_step({"input_ids": random_rows(2, CTX), "row": torch.tensor([5, 9])})
    position, latent, value = out["latents"]["layers.1"]  # compact dtypes, positions within the batch
    assert position.dtype == latent.dtype == torch.int32 and value.dtype == torch.float32
    assert len(value) <= 2 * CTX * 8 and (value > 0).all()  # at most k per token, never dense
    assert set((position // CTX).tolist()) == {0, 1} and out["n_tokens"] == 2 * CTX
    rows, tokens, host = out["host"].numpy()  # the writer thread's view: global token indices
    token_index, host_latent, host_value = host["layers.1"]
    assert rows.tolist() == [5, 9] and tokens.dtype == np.int32 and token_index.dtype == np.int32
    assert set((token_index // CTX).tolist()) == {5, 9}
    np.testing.assert_array_equal(token_index % CTX, position.numpy() % CTX)
    np.testing.assert_array_equal(host_latent, latent.numpy())
    np.testing.assert_array_equal(host_value, value.numpy())


def test_weights_are_freed_before_lightning_moves_the_module_to_the_cpu(assets, tmp_path):
    # Lightning's strategy teardown calls module.cpu(): with the subject still attached that copies
    # every rank's whole model into host RAM (~16 GB per rank for an 8B model in bf16).
    model_dir, sae_dir, _ = assets
    module = LatentCacheModule(str(model_dir), str(sae_dir), ["layers.1"])
    held_at_cpu = []
    original_cpu = module.cpu
    module.cpu = lambda: held_at_cpu.append(sum(p.numel() for p in module.parameters())) or original_cpu()
    reader = run_predict(module, random_rows(6, CTX), torch.arange(6), tmp_path / "latents")
    assert held_at_cpu == [0]  # called once, by then nothing left to copy
    assert module.subject is None and module.d_sae() == {"layers.1": 64}  # the manifest still knew d_sae
    assert reader.manifest.per_hookpoint["layers.1"].d_sae == 64


def test_blocks_after_the_deepest_hookpoint_and_the_lm_head_are_dropped(assets):
    model_dir, sae_dir, _ = assets
    module = LatentCacheModule(str(model_dir), str(sae_dir), ["layers.1"])
    module.load("cpu")
    assert len(module.subject.model.layers) == 2  # layers.0 and layers.1 of 4
    head = module.subject.get_output_embeddings()
    assert head.weight is module.subject.get_input_embeddings().weight or head.weight.numel() == 0


def test_too_little_free_gpu_memory_is_refused_with_the_settings_to_change():
    check_free_memory(torch.device("cuda", 3), 10 * GIB, free_total=(20 * GIB, 80 * GIB))  # enough
    with pytest.raises(ValueError, match=r"trainer.devices: cuda:3 has 5.0 GiB free of 80.0 GiB.*vLLM.*CUDA_VISIBLE_DEVICES"):
        check_free_memory(torch.device("cuda", 3), 10 * GIB, free_total=(5 * GIB, 80 * GIB))


def test_bad_inputs_fail_before_the_forward_pass(assets, tmp_path):
    model_dir, sae_dir, _ = assets
    with pytest.raises(ValueError, match=r"hookpoint\(s\) \['layers.9'\].*valid names are layers.0 \.\.\. layers.3"):
        LatentCacheModule(str(model_dir), str(sae_dir), ["layers.9"]).load()
    narrow = tmp_path / "narrow"
    make_sparsify_sae(narrow, "layers.1", d_in=HIDDEN // 2)
    with pytest.raises(ValueError, match="sparse_model.*d_in=16.*hidden size is 32"):
        LatentCacheModule(str(model_dir), str(narrow), ["layers.1"]).load()
    with pytest.raises(ValueError, match="hookpoints"):
        LatentCacheModule(str(model_dir), str(sae_dir), [])
    with pytest.raises(ValueError, match="activation_dtype"):
        LatentCacheModule(str(model_dir), str(sae_dir), ["layers.1"], activation_dtype="int8")
    with pytest.raises(ValueError, match="dtype"):
        LatentCacheModule(str(model_dir), str(sae_dir), ["layers.1"], dtype="float13")


def test_sparse_model_under_assets_resolves_inside_the_package(tmp_path, monkeypatch):
    import autointerp.models.sparse_coders.loading as cm

    (tmp_path / "assets" / "my-sae").mkdir(parents=True)
    monkeypatch.setattr(cm, "PACKAGE_DIR", tmp_path)
    monkeypatch.chdir(tmp_path / "assets")  # "assets/my-sae" does not exist relative to here
    assert resolve_sparse_model("assets/my-sae") == str(tmp_path / "assets" / "my-sae")
    assert resolve_sparse_model("owner/name") == "owner/name"


def test_coders_can_run_in_float32_under_a_bfloat16_model(assets):
    model_dir, sae_dir, _ = assets
    module = LatentCacheModule(str(model_dir), str(sae_dir), ["layers.1"], dtype="bfloat16", coder_dtype="float32")
    module.load("cpu")
    assert next(module.subject.parameters()).dtype == torch.bfloat16
    assert {p.dtype for p in module.coder("layers.1").parameters()} == {torch.float32}
    position, latent, value = module.predict_step({"input_ids": random_rows(2, CTX), "row": torch.tensor([0, 1])})["latents"]["layers.1"]
    assert len(value) > 0 and value.dtype == torch.float32
    with pytest.raises(ValueError, match="coder_dtype"):
        LatentCacheModule(str(model_dir), str(sae_dir), ["layers.1"], coder_dtype="float13")
