"""After predict, nothing keeps the subject model alive while the interpret stage runs (load_in_8bit included).

bitsandbytes needs CUDA, so its 8-bit layers are stood in for by what they add to a module graph: an
int8 weight with `CB`/`SCB` tensors on the parameter and in a `state` object on the layer, and
accelerate's dispatch hook (`_hf_hook`), which points back at its module (a reference cycle). What
is checked is the one thing a CPU can show: once `trainer.predict` returns, with the trainer and the
module still held (as they are during the interpret stage), no object of the model is reachable.
"""

from __future__ import annotations

import gc
import weakref
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader

from autointerp.models.cache_module import LatentCacheModule
from autointerp.models.sparse_coders.base import TopKCoder
from callbacks.shard_writer import LatentShardWriter

D_IN, D_SAE, CTX = 32, 64, 8


def _int8_like_model():
    """A fresh tiny Llama whose first MLP projection carries 8-bit-style state and a dispatch hook."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=D_IN, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model = LlamaForCausalLM(config).eval()
    layer = model.model.layers[0].mlp.up_proj
    layer.weight.CB = torch.zeros(layer.weight.shape, dtype=torch.int8)  # bitsandbytes Int8Params
    layer.weight.SCB = torch.ones(layer.weight.shape[0])
    layer.state = SimpleNamespace(CB=layer.weight.CB, SCB=layer.weight.SCB)  # Linear8bitLt's MatmulLtState
    layer._hf_hook = SimpleNamespace(module=layer)  # accelerate's hook refers back to its module
    return model, layer.weight.CB


def _coder():
    g = torch.Generator().manual_seed(1)
    return TopKCoder(torch.randn(D_SAE, D_IN, generator=g), torch.zeros(D_SAE), torch.randn(D_SAE, D_IN, generator=g),
                     torch.zeros(D_IN), k=4, hookpoint="layers.1")


@pytest.mark.parametrize("release", [True, False], ids=["released", "control-without-release"])
def test_nothing_of_the_model_survives_predict(tmp_path, monkeypatch, release):
    module = LatentCacheModule("int8-like", "topk", ["layers.1"])
    model, int8 = _int8_like_model()
    coder = _coder()
    module.attach(model, {"layers.1": coder}, bos_token_id=None)
    refs = {"model": weakref.ref(model), "int8 weights": weakref.ref(int8), "coder": weakref.ref(coder)}
    del model, int8, coder
    if not release:  # the control: the same run without the release keeps everything
        monkeypatch.setattr(module, "on_predict_end", lambda: None)
    ids = torch.randint(2, 97, (4, CTX), generator=torch.Generator().manual_seed(2))
    data = DataLoader([{"input_ids": ids[i], "row": torch.tensor(i)} for i in range(4)], batch_size=2)
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                      callbacks=[LatentShardWriter(str(tmp_path / "latents"))])
    trainer.predict(module, data, return_predictions=False)
    gc.collect()
    alive = sorted(name for name, ref in refs.items() if ref() is not None)
    assert trainer is not None and module.d_sae() == {"layers.1": D_SAE}  # both still held, as during interpret
    assert alive == ([] if release else ["coder", "int8 weights", "model"])
