"""The interpret-after-predict callback: teardown frees the subject model; the stage runs after
`trainer.predict` returns, on global rank 0 only, without the process group or torchrun's env."""

from __future__ import annotations

import os
from types import SimpleNamespace

import torch
import torch.distributed as dist

import autointerp.pipeline.run as run_module
from autointerp.pipeline.config import InterpretConfig
from callbacks.interpret import InterpretAfterPredict, release_subject_model


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.subject = torch.nn.Linear(64, 64)


def test_release_frees_every_weight():
    module = Tiny()
    release_subject_model(module)
    assert all(p.numel() == 0 for p in module.parameters())


def fake_trainer(rank0: bool):
    return SimpleNamespace(is_global_zero=rank0, loggers=[])


def test_only_global_rank_zero_interprets_and_only_after_predict(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(run_module, "interpret", lambda run_dir, config, run_config, parts: calls.append((run_dir, parts)) or {"ok": 1})
    callback = InterpretAfterPredict(str(tmp_path), InterpretConfig())
    callback.on_predict_start(None, None)
    callback.run_after_predict(fake_trainer(rank0=True))  # no predict ended yet
    callback.teardown(fake_trainer(rank0=True), Tiny(), "fit")
    callback.run_after_predict(fake_trainer(rank0=True))
    assert calls == []
    module = Tiny()
    callback.teardown(fake_trainer(rank0=True), module, "predict")
    assert calls == []  # teardown only frees the weights
    assert all(p.numel() == 0 for p in module.parameters())
    callback.run_after_predict(fake_trainer(rank0=False))
    assert calls == []
    callback.run_after_predict(fake_trainer(rank0=True))
    assert len(calls) == 1 and calls[0][1].extra_timing["predict"] >= 0 and callback.summary == {"ok": 1}


def test_disabled_interpret_does_nothing(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(run_module, "interpret", lambda *a: calls.append(a))
    module = Tiny()
    callback = InterpretAfterPredict(str(tmp_path), InterpretConfig(enabled=False))
    callback.teardown(fake_trainer(True), module, "predict")
    callback.run_after_predict(fake_trainer(True))
    assert calls == [] and all(p.numel() > 0 for p in module.parameters())


def test_interpret_runs_without_the_process_group_and_launcher_env(monkeypatch, tmp_path):
    # A real (one-rank, gloo) process group, as DDP leaves it when trainer.predict returns.
    seen = {}

    def interpret(run_dir, config, run_config, parts):
        seen.update(group=dist.is_initialized(), world=os.environ.get("WORLD_SIZE"), rank=os.environ.get("LOCAL_RANK"))
        return {}

    monkeypatch.setattr(run_module, "interpret", interpret)
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        callback = InterpretAfterPredict(str(tmp_path), InterpretConfig())
        callback.teardown(fake_trainer(True), Tiny(), "predict")
        callback.run_after_predict(fake_trainer(True))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    assert seen == {"group": False, "world": None, "rank": None}
    assert os.environ["WORLD_SIZE"] == "1"  # put back afterwards
