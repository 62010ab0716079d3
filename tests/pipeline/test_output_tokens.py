"""Logit-lens tokens in records: the effective unembedding and the run's records, against the model's own modules."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from autointerp.io import write_json
from autointerp.latents.format import MANIFEST
from autointerp.pipeline.config import InterpretConfig
from autointerp.pipeline.output_tokens import OutputTokens, build_output_tokens, load_unembedding
from autointerp.pipeline.run import Parts, interpret
from autointerp.records import Latent
from pipeline_fakes import CountingClient, FakeBuilder, FakeExplainer, FakeScorer, make_cache

HP, D, D_SAE, VOCAB, K = "layers.1", 32, 8, 96, 5


class IdTokenizer:
    """Decodes id i to `t<i>`, so a token list names its ids."""

    def decode(self, ids):
        return "".join(f"t{i}" for i in ids)


def tiny_model(folder, tied: bool):
    """A 2-layer Llama with a non-trivial final norm gain, saved as safetensors."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=D, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=tied)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        model.model.norm.weight.copy_(torch.rand(D) * 2 + 0.1)
    model.save_pretrained(str(folder))
    return model


def tiny_sae(folder, seed: int = 1) -> np.ndarray:
    """A sparsify TopK SAE for HP; returns W_dec [d_sae, d]."""
    rng = np.random.default_rng(seed)
    sub = folder / HP
    sub.mkdir(parents=True)
    W_dec = rng.normal(size=(D_SAE, D)).astype(np.float32)
    (sub / "cfg.json").write_text(json.dumps({"expansion_factor": D_SAE // D or 1, "num_latents": D_SAE, "k": 2, "d_in": D}))
    save_file({"encoder.weight": rng.normal(size=(D_SAE, D)).astype(np.float32),
               "encoder.bias": np.zeros(D_SAE, np.float32), "W_dec": W_dec, "b_dec": np.zeros(D, np.float32)},
              str(sub / "sae.safetensors"))
    return W_dec


def hand_tokens(model, row: np.ndarray) -> list[str]:
    """Top tokens of lm_head(final_norm(row)) through the model's own modules."""
    with torch.no_grad():
        logits = model.lm_head(model.model.norm(torch.from_numpy(row)[None, None]))[0, 0]
    return [f"t{i}" for i in torch.topk(logits, K).indices.tolist()]


@pytest.mark.parametrize("tied", [False, True])
def test_unembedding_is_lm_head_times_norm_gain(tmp_path, tied):
    model = tiny_model(tmp_path / "m", tied)
    expected = model.lm_head.weight.detach() * model.model.norm.weight.detach()[None, :]
    torch.testing.assert_close(load_unembedding(str(tmp_path / "m")), expected)


def test_tokens_match_the_models_own_norm_and_head(tmp_path):
    model = tiny_model(tmp_path / "m", tied=False)
    W_dec = tiny_sae(tmp_path / "sae")
    lens = build_output_tokens(str(tmp_path / "m"), str(tmp_path / "sae"), [HP], IdTokenizer(), k=K)
    for i in range(D_SAE):
        assert lens.tokens(Latent(HP, i)) == hand_tokens(model, W_dec[i])
    assert lens.tokens(Latent("layers.0", 0)) is None  # no coder for that hookpoint


def test_other_decoder_width_gives_none():
    lens = OutputTokens({HP: torch.ones(3, D + 1)}, torch.ones(VOCAB, D), IdTokenizer())
    assert lens.tokens(Latent(HP, 0)) is None


def _run(tmp_path, **kw):
    make_cache(tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "latents" / MANIFEST).read_text())
    write_json(tmp_path / "run" / "latents" / MANIFEST,
               manifest | {"model": str(tmp_path / "m"), "sparse_model": str(tmp_path / "sae")})
    config = InterpretConfig(mlflow=False, report=False, **kw)
    parts = Parts(client=CountingClient(), explainer=FakeExplainer(), scorers={"detection": FakeScorer()},
                  builder=FakeBuilder(), tokenizer=IdTokenizer())
    interpret(tmp_path / "run", config, parts=parts)
    return [json.loads((tmp_path / "run" / "explanations" / HP / f"{i}.json").read_text())["record"]
            for i in range(D_SAE)]


def test_the_run_fills_every_record(tmp_path):
    model = tiny_model(tmp_path / "m", tied=True)
    W_dec = tiny_sae(tmp_path / "sae")
    records = _run(tmp_path)
    assert [r["top_output_tokens"][:K] for r in records] == [hand_tokens(model, W_dec[i]) for i in range(D_SAE)]


def test_switched_off_leaves_none(tmp_path):
    tiny_model(tmp_path / "m", tied=True)
    tiny_sae(tmp_path / "sae")
    assert all(r["top_output_tokens"] is None for r in _run(tmp_path, output_tokens=False))


def test_explainer_output_needs_loadable_tokens(tmp_path):
    from autointerp.explainers import DefaultExplainer
    from autointerp.pipeline import components

    with pytest.raises(ValueError, match="output needs interpret.output_tokens"):
        components.build_explainer(InterpretConfig(output_tokens=False, explainer=DefaultExplainer(output=True)))
    make_cache(tmp_path / "run")  # manifest names "tiny-model" / "tiny-sae": not loadable
    config = InterpretConfig(mlflow=False, report=False, explainer=DefaultExplainer(output=True))
    parts = Parts(client=CountingClient(), scorers={"detection": FakeScorer()}, builder=FakeBuilder(), tokenizer=IdTokenizer())
    with pytest.raises(ValueError, match="explainer.init_args.output: the logit-lens tokens could not be loaded"):
        interpret(tmp_path / "run", config, parts=parts)


def test_gguf_reads_only_the_two_tensors_of_the_cached_weights():
    """The embedded SmolLM2 (tied embeddings, RMSNorm): same as the loaded model's own modules."""
    from autointerp.models.subject import load_subject

    model_name = "embedded:SmolLM2-135M-Instruct"
    unembedding = load_unembedding(model_name)
    model, _ = load_subject(model_name)
    expected = model.lm_head.weight.detach() * model.model.norm.weight.detach()[None, :]
    torch.testing.assert_close(unembedding, expected)
    direction = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(3))
    lens = OutputTokens({HP: direction[None]}, unembedding, IdTokenizer(), k=K)
    assert lens.tokens(Latent(HP, 0)) == hand_tokens(model, direction.numpy())


def _fake_hub_cache(tmp_path, monkeypatch, repo="meta-llama/Tiny-Llama"):
    """A real huggingface_hub cache layout under tmp_path/hub; the snapshot folder of `repo`."""
    import huggingface_hub

    owner, name = repo.split("/")
    snapshot = tmp_path / "hub" / f"models--{owner}--{name}" / "snapshots" / "c0ffee"
    (snapshot.parent.parent / "refs").mkdir(parents=True)
    (snapshot.parent.parent / "refs" / "main").write_text("c0ffee")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return snapshot


def test_a_hub_model_is_read_from_the_hub_cache_without_loading_it(tmp_path, monkeypatch):
    # Predict downloaded the model into the hub cache; the lens must read two tensors from its
    # safetensors, not load the whole model in float32 on the CPU (~32 GB for an 8B model).
    import autointerp.models.subject as subject_module

    model = tiny_model(_fake_hub_cache(tmp_path, monkeypatch), tied=False)

    def no_load(*args, **kwargs):
        raise AssertionError("the whole subject model was loaded for two tensors")

    monkeypatch.setattr(subject_module, "load_subject", no_load)
    expected = model.lm_head.weight.detach() * model.model.norm.weight.detach()[None, :]
    torch.testing.assert_close(load_unembedding("meta-llama/Tiny-Llama"), expected)
