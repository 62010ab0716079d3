"""The interpret-after-predict callback: it frees the subject model, then interprets on global rank 0 only."""

from __future__ import annotations

from types import SimpleNamespace

import torch

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
    callback.teardown(fake_trainer(rank0=False), Tiny(), "predict")
    callback.teardown(fake_trainer(rank0=True), Tiny(), "fit")
    assert calls == []
    module = Tiny()
    callback.teardown(fake_trainer(rank0=True), module, "predict")
    assert len(calls) == 1 and calls[0][1].extra_timing["predict"] >= 0 and callback.summary == {"ok": 1}
    assert all(p.numel() == 0 for p in module.parameters())


def test_disabled_interpret_does_nothing(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(run_module, "interpret", lambda *a: calls.append(a))
    module = Tiny()
    InterpretAfterPredict(str(tmp_path), InterpretConfig(enabled=False)).teardown(fake_trainer(True), module, "predict")
    assert calls == [] and all(p.numel() > 0 for p in module.parameters())
