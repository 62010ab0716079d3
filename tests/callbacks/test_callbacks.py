"""LatentShardWriter and LatentStatistics under a real Trainer, with a synthetic predict module."""

from __future__ import annotations

import csv
import logging
import threading

import numpy as np
import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

from autointerp.latents import CacheReader
from callbacks.latent_statistics import LatentStatistics
from callbacks.shard_writer import LatentShardWriter

CTX, D_SAE, K, DEAD = 8, 32, 3, 5  # the last DEAD latents never fire


class SyntheticCacheModule(LightningModule):
    """Returns K distinct random latents per token, seeded by the row: a stand-in with known output."""

    activation_dtype = "float16"

    def d_sae(self) -> dict[str, int]:
        return {"hp.a": D_SAE}

    def manifest_meta(self) -> dict:
        return {"model": "synthetic", "sparse_model": "none", "hookpoints": ["hp.a"], "d_sae": self.d_sae()}

    def predict_step(self, batch, batch_idx=0):
        rows, ids = batch["row"], batch["input_ids"]
        token_index, latent, value = [], [], []
        for row in rows.tolist():
            g = torch.Generator().manual_seed(row)
            picks = torch.rand(CTX, D_SAE - DEAD, generator=g).topk(K).indices  # [CTX, K]
            token_index.append(row * CTX + torch.arange(CTX).repeat_interleave(K))
            latent.append(picks.reshape(-1))
            value.append(torch.rand(CTX * K, generator=g) + 0.5)
        latents = {"hp.a": (torch.cat(token_index), torch.cat(latent), torch.cat(value))}
        return {"row": rows, "input_ids": ids, "n_tokens": ids.numel(), "latents": latents}


def loader(n_rows: int) -> DataLoader:
    items = [{"input_ids": torch.full((CTX,), i), "row": torch.tensor(i)} for i in range(n_rows)]
    return DataLoader(items, batch_size=3)


def test_writer_and_statistics(tmp_path):
    module = SyntheticCacheModule()
    stats = LatentStatistics(log_every_n_batches=2)
    trainer = Trainer(accelerator="cpu", devices=1, enable_progress_bar=False, enable_model_summary=False,
                      logger=CSVLogger(tmp_path / "logs", name="run"),
                      callbacks=[LatentShardWriter(str(tmp_path / "latents"), flush_tokens=4 * CTX), stats])
    trainer.predict(module, loader(10), return_predictions=False)

    # Independent expectation: the module's output per row, gathered by hand.
    want = [module.predict_step({"row": torch.tensor([r]), "input_ids": torch.zeros(1, CTX)})["latents"]["hp.a"]
            for r in range(10)]
    latents = torch.cat([w[1] for w in want])
    expected = {"cache/tokens": 10 * CTX, "cache/hp.a/mean_l0": K,
                "cache/hp.a/alive_fraction": len(set(latents.tolist())) / D_SAE}
    assert expected["cache/hp.a/alive_fraction"] <= (D_SAE - DEAD) / D_SAE
    assert stats.metrics == pytest.approx(expected)

    with open(trainer.logger.log_dir + "/metrics.csv") as f:
        logged = list(csv.DictReader(f))
    assert len(logged) == 3  # after batches 2 and 4 (of 4), and the final totals
    assert float(logged[-1]["cache/hp.a/alive_fraction"]) == pytest.approx(expected["cache/hp.a/alive_fraction"])
    assert float(logged[-1]["cache/tokens"]) == 10 * CTX and float(logged[0]["cache/tokens"]) == 6 * CTX

    reader = CacheReader(tmp_path / "latents")
    assert len(reader.shard_paths("hp.a")) == 2  # batches of 3,3,3,1 rows: flushes at 6 rows and at 4 more
    for j in range(D_SAE):
        got = reader.latent("hp.a", j)
        mask = latents == j
        ti = torch.cat([w[0] for w in want])[mask].numpy()
        np.testing.assert_array_equal(got.token_index, np.sort(ti))
    assert reader.manifest.n_tokens == 10 * CTX and reader.manifest.model == "synthetic"


class NotACacheModule(LightningModule):
    def predict_step(self, batch, batch_idx=0):
        raise AssertionError("no batch may run")


def test_writer_refuses_a_module_that_is_not_a_cache_module(tmp_path):
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      callbacks=[LatentShardWriter(str(tmp_path / "latents"))])
    with pytest.raises(TypeError, match="LatentCacheModule"):
        trainer.predict(NotACacheModule(), loader(2), return_predictions=False)


def test_writer_warns_when_predictions_are_kept(tmp_path, caplog):
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      callbacks=[LatentShardWriter(str(tmp_path / "latents"))])
    with caplog.at_level(logging.WARNING, logger="callbacks.shard_writer"):
        trainer.predict(SyntheticCacheModule(), loader(2), return_predictions=True)
    assert "return_predictions=True" in caplog.text


def test_bad_settings():
    with pytest.raises(ValueError, match="flush_tokens"):
        LatentShardWriter("x", flush_tokens=0)
    with pytest.raises(ValueError, match="log_every_n_batches"):
        LatentStatistics(log_every_n_batches=0)


class OutOfRangeModule(SyntheticCacheModule):
    """Latent indices past d_sae: the sink refuses them when it flushes, on the writer's thread."""

    def predict_step(self, batch, batch_idx=0):
        out = super().predict_step(batch, batch_idx)
        token_index, latent, value = out["latents"]["hp.a"]
        out["latents"]["hp.a"] = (token_index, latent + D_SAE, value)
        return out


def test_an_error_on_the_writer_thread_fails_the_run(tmp_path):
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      callbacks=[LatentShardWriter(str(tmp_path / "latents"), flush_tokens=CTX)])
    writer = trainer.callbacks[0]
    with pytest.raises(RuntimeError, match=r"latent writer thread failed: latent indices must lie in \[0, 32\)"):
        trainer.predict(OutOfRangeModule(), loader(6), return_predictions=False)
    assert not (tmp_path / "latents" / "manifest.json").exists()
    assert writer._thread is None and not any(t.name == "latent-writer" for t in threading.enumerate())
