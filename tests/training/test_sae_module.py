"""SaeTrainingModule under Lightning's fit loop, on a tiny random Llama."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch

from autointerp.models.sparse_coders import load_sparse_coders
from autointerp.models.subject import load_subject
from autointerp.training.capture import HookpointCapture
from autointerp.training.sae_module import SaeTrainingModule


class FvuHistory(L.Callback):
    """Collect the logged per-step FVU."""

    def __init__(self) -> None:
        self.fvu: list[float] = []
        self.dead: list[float] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if "train/fvu" in trainer.callback_metrics:
            self.fvu.append(float(trainer.callback_metrics["train/fvu"]))
            self.dead.append(float(trainer.callback_metrics["train/dead_fraction"]))


def trainer(max_epochs: int, history: L.Callback, tmp_path) -> L.Trainer:
    """A quiet CPU trainer logging every step."""
    return L.Trainer(accelerator="cpu", devices=1, max_epochs=max_epochs, logger=False,
                     enable_checkpointing=False, enable_progress_bar=False, log_every_n_steps=1,
                     callbacks=[history], default_root_dir=tmp_path, enable_model_summary=False)


def test_fit_lowers_loss_and_the_saved_folder_encodes_like_the_module(tiny_llama_dir, row_loader, tmp_path):
    module = SaeTrainingModule(model=tiny_llama_dir, hookpoint="layers.1", k=4, num_latents=64,
                               lr=3e-3, buffer_size=512, sae_batch_size=64, save_dir=str(tmp_path / "sae"),
                               activation_cache_dir=str(tmp_path / "acts"))
    history = FvuHistory()
    trainer(25, history, tmp_path).fit(module, train_dataloaders=row_loader(n_rows=64, ctx_len=16, batch_size=8))
    assert module.trainer.global_step >= 250  # optimizer steps
    first, last = np.mean(history.fvu[:10]), np.mean(history.fvu[-10:])
    assert last < 0.6 * first, (first, last)

    coder = load_sparse_coders(str(tmp_path / "sae"), ["layers.1"], device="cpu", dtype=torch.float32)["layers.1"]
    assert coder.k == 4 and not coder.transcoder
    subject, _ = load_subject(tiny_llama_dir)
    _, x = HookpointCapture(subject, "layers.1")(torch.randint(0, 128, (3, 16)))
    x = x.reshape(-1, 32)
    tokens, latents, values = coder.encode(x)
    with torch.no_grad():
        ours_values, ours_latents = module.sae.encode(x)
    ours = {(t, int(l), float(v)) for t in range(x.shape[0])
            for l, v in zip(ours_latents[t], ours_values[t]) if v > 0}
    theirs = {(int(t), int(l), float(v)) for t, l, v in zip(tokens, latents, values)}
    assert ours == theirs and len(ours) > 0


def test_transcoder_reconstructs_the_module_output(tiny_llama_dir, row_loader, tmp_path):
    module = SaeTrainingModule(model=tiny_llama_dir, hookpoint="layers.0.mlp", k=4, num_latents=64,
                               lr=3e-3, transcoder=True, buffer_size=512, sae_batch_size=64,
                               save_dir=str(tmp_path / "tc"))
    history = FvuHistory()
    trainer(4, history, tmp_path).fit(module, train_dataloaders=row_loader(n_rows=64, ctx_len=16))
    assert np.mean(history.fvu[-10:]) < 0.8 * np.mean(history.fvu[:10])
    coder = load_sparse_coders(str(tmp_path / "tc"), ["layers.0.mlp"], device="cpu", dtype=torch.float32)
    assert coder["layers.0.mlp"].transcoder

    subject, _ = load_subject(tiny_llama_dir)
    mlp_in, mlp_out = HookpointCapture(subject, "layers.0.mlp")(torch.randint(0, 128, (2, 16)))
    torch.testing.assert_close(mlp_out, subject.model.layers[0].mlp(mlp_in))


def test_activation_cache_is_filled_once_and_reused(tiny_llama_dir, row_loader, tmp_path):
    cache_dir = tmp_path / "acts"
    loader = row_loader(n_rows=24, ctx_len=16)
    module = SaeTrainingModule(model=tiny_llama_dir, hookpoint="layers.1", k=4, num_latents=64,
                               buffer_size=256, sae_batch_size=64, save_dir=str(tmp_path / "sae"),
                               activation_cache_dir=str(cache_dir))
    calls = []
    module.configure_model()
    capture = module._subject.capture
    module._subject.capture = lambda ids: calls.append(len(ids)) or capture(ids)
    trainer(3, FvuHistory(), tmp_path).fit(module, train_dataloaders=loader)
    assert sum(calls) == 24  # the subject model saw every row exactly once over three epochs

    cached = np.load(cache_dir / "inputs.npy", mmap_mode="r")
    assert np.load(cache_dir / "filled.npy").all()
    _, expected = capture(loader.dataset.tokens[:5])
    np.testing.assert_allclose(cached[:5], expected.numpy().astype(np.float16), rtol=0, atol=0)

    other = SaeTrainingModule(model=tiny_llama_dir, hookpoint="layers.0", activation_cache_dir=str(cache_dir),
                              buffer_size=256, sae_batch_size=64, save_dir=str(tmp_path / "sae2"))
    with pytest.raises(ValueError, match="activation_cache_dir"):
        trainer(1, FvuHistory(), tmp_path).fit(other, train_dataloaders=loader)


@pytest.mark.parametrize(
    "kwargs, setting",
    [({"k": 0}, "k"), ({"save_dtype": "int8"}, "save_dtype"), ({"lr": -1.0}, "lr"),
     ({"buffer_size": 100, "sae_batch_size": 64}, "buffer_size")],
)
def test_bad_settings_name_the_setting(kwargs, setting):
    with pytest.raises(ValueError, match=setting):
        SaeTrainingModule(model="unused", hookpoint="layers.0", **kwargs)


def test_unknown_hookpoint_fails_before_training(tiny_llama_dir):
    module = SaeTrainingModule(model=tiny_llama_dir, hookpoint="layers.9")
    with pytest.raises(ValueError, match="hookpoint"):
        module.configure_model()


def test_max_norm_ratio_keeps_attention_sinks_out_of_training(tiny_llama_dir):
    module = SaeTrainingModule(model=tiny_llama_dir, hookpoint="layers.1", max_norm_ratio=10.0,
                               buffer_size=4096, sae_batch_size=64)
    module.configure_model()
    acts = torch.randn(2, 16, 32)
    acts[:, 0] *= 500  # every row's first position: a sink far above the median norm
    module.activations = lambda batch: (acts, None)
    module.training_step({"input_ids": torch.zeros(2, 16, dtype=torch.long), "row": torch.arange(2)}, 0)
    pushed = torch.cat(module.buffer._inputs)
    assert len(pushed) == 30
    torch.testing.assert_close(pushed, acts[:, 1:].reshape(-1, 32))


def test_activation_cache_refuses_other_text(tiny_llama_dir, row_loader, tmp_path):
    cache_dir = str(tmp_path / "acts")
    kwargs = dict(model=tiny_llama_dir, hookpoint="layers.1", k=4, num_latents=64, buffer_size=256,
                  sae_batch_size=64, save_dir=str(tmp_path / "sae"), activation_cache_dir=cache_dir)
    trainer(1, FvuHistory(), tmp_path).fit(SaeTrainingModule(**kwargs), train_dataloaders=row_loader(n_rows=8, seed=0))
    with pytest.raises(ValueError, match="activation_cache_dir"):  # same shape, different tokens
        trainer(1, FvuHistory(), tmp_path).fit(SaeTrainingModule(**kwargs), train_dataloaders=row_loader(n_rows=8, seed=1))


def test_fit_refuses_two_devices_before_loading_anything(tmp_path):
    # A DDP trainer is only built here, never launched (that would relaunch pytest): its world size is
    # known at construction, and `setup` is the first hook every rank runs, before configure_model.
    module = SaeTrainingModule(model="/no/such/model", hookpoint="layers.1")
    ddp = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False, default_root_dir=tmp_path)
    module.trainer = ddp
    with pytest.raises(ValueError, match=r"trainer.devices: fit trains the SAE on one device.*2 processes"):
        module.setup("fit")
    module.trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, default_root_dir=tmp_path)
    module.setup("fit")  # one device: accepted (and /no/such/model is not touched yet)
