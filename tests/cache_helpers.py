"""Small local fixtures for the latent-cache tests: a word-level tokenizer, a tiny random Llama,
sparsify-layout TopK SAEs, and an independent reference (plain forward + hand-written encode)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

HIDDEN, LAYERS, D_SAE, K = 32, 4, 64, 8
WORDS = (
    "the of and to in a is was for on that with as by at from his it an were are which this be or has "
    "had not first one their its new after who they have her she two been other when there all during "
    "into school time may years more most only over city some world would where later up such used many"
).split()


def make_tokenizer(folder: Path):
    """A fast word-level tokenizer: ids 0-2 are <unk>, <s>, </s>; then WORDS."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(folder)
    return fast


def make_tiny_model(folder: Path, seed: int = 0) -> Path:
    """A 4-layer Llama (hidden 32) with random weights, saved with its tokenizer; returns the folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    make_tokenizer(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(WORDS) + 3, hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=LAYERS,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, bos_token_id=1, eos_token_id=2,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def make_sparsify_sae(root: Path, hookpoint: str, d_in: int = HIDDEN, d_sae: int = D_SAE, k: int = K, seed: int = 0,
                      transcode: bool = False) -> dict[str, torch.Tensor]:
    """Write `<root>/<hookpoint>/{cfg.json, sae.safetensors}` (EleutherAI sparsify layout); return the weights."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    weights = {
        "encoder.weight": torch.randn(d_sae, d_in, generator=g) / d_in**0.5,
        "encoder.bias": torch.randn(d_sae, generator=g) * 0.1,
        "W_dec": torch.randn(d_sae, d_in, generator=g) / d_sae**0.5,
        "b_dec": torch.randn(d_in, generator=g) * 0.1,
    }
    folder = root / hookpoint
    folder.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(folder / "sae.safetensors"))
    (folder / "cfg.json").write_text(json.dumps({"k": k, "num_latents": d_sae, "d_in": d_in, "transcode": transcode}))
    return weights


def hand_encode(x: torch.Tensor, w: dict[str, torch.Tensor], k: int = K) -> dict[tuple[int, int], float]:
    """TopK SAE by hand: {(token, latent): value} of relu((x - b_dec) W_enc^T + b_enc), k largest per token."""
    pre = torch.relu((x.float() - w["b_dec"]) @ w["encoder.weight"].T + w["encoder.bias"])
    out = {}
    for t in range(pre.shape[0]):
        values, latents = pre[t].topk(k)
        for v, j in zip(values.tolist(), latents.tolist()):
            if v > 0:
                out[(t, j)] = v
    return out


def reference_nonzeros(model_dir: Path, weights: dict[str, dict], input_ids: torch.Tensor, rows: torch.Tensor,
                       batch_size: int, bos_token_id: int | None = None) -> dict[str, dict[tuple[int, int, int], float]]:
    """Independent cache: a plain transformers forward with output_hidden_states, then `hand_encode`.

    weights: {"layers.<i>": sae weights}; layers.i's output is hidden_states[i + 1] (not the last layer:
    transformers applies the final norm to the last entry). Returns {hookpoint: {(row, pos, latent): value}}.
    """
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = {hp: {} for hp in weights}
    ctx = input_ids.shape[1]
    for start in range(0, len(input_ids), batch_size):
        ids, rws = input_ids[start : start + batch_size], rows[start : start + batch_size]
        with torch.no_grad():
            hidden = model(input_ids=ids, output_hidden_states=True).hidden_states
        for hp, w in weights.items():
            layer = int(hp.split(".")[1])
            assert layer < LAYERS - 1, "the last layer's hidden state carries the final norm"
            for (t, j), v in hand_encode(hidden[layer + 1].reshape(-1, HIDDEN), w).items():
                b, pos = divmod(t, ctx)
                if bos_token_id is not None and int(ids[b, pos]) == bos_token_id:
                    continue
                out[hp][(int(rws[b]), pos, j)] = v
    return out


def cached_nonzeros(reader, hookpoint: str) -> dict[tuple[int, int, int], float]:
    """{(row, pos, latent): value} read back from a cache, one latent slice at a time."""
    out = {}
    for j in range(reader.d_sae(hookpoint)):
        acts = reader.latent(hookpoint, j)
        for ti, v in zip(acts.token_index.tolist(), acts.activations.tolist()):
            out[(ti // reader.ctx_len, ti % reader.ctx_len, j)] = v
    return out


def assert_same_nonzeros(got: dict, want: dict) -> None:
    """Same (row, pos, latent) keys; values equal within float16 rounding."""
    assert set(got) == set(want), f"{len(set(got) ^ set(want))} nonzeros differ (of {len(want)})"
    keys = sorted(want)
    g = np.array([got[key] for key in keys])
    w = np.array([want[key] for key in keys])
    np.testing.assert_allclose(g, w, rtol=2**-10, atol=1e-6)


def random_rows(n_rows: int, ctx: int, seed: int = 0, bos_every: int = 0) -> torch.Tensor:
    """Random token ids [n_rows, ctx] avoiding the special ids; with bos_every, a <s> every that many positions."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, len(WORDS) + 3, (n_rows, ctx), generator=g)
    if bos_every:
        ids[:, ::bos_every] = 1
    return ids
