"""Each latent's logit-lens tokens for its record: decoder row times the subject model's unembedding.

The effective unembedding is `W_U * g`, `W_U` [vocab, d] the lm_head weight (or the tied input
embedding) and `g` [d] the final norm's gain, because the residual stream passes the final norm
before the unembedding. The norm's division by the row's RMS is one positive scalar per vector, so it
cannot change which tokens rank first and is left out; a LayerNorm's bias adds the same logits to
every latent, so it is left out too. Gemma's RMSNorm multiplies by `1 + weight`, which is honoured.
A transcoder's decoder writes its module's output (an MLP's output is added to the residual stream),
so the lens applies to it as to an SAE; only a decoder of another width gets None.

Only the few tensors needed are read: from the model's safetensors files (a local folder, a GGUF's
cached float32 weights, see `autointerp.models.gguf_cache`, or a hub id's snapshot in the local hub
cache, which predict filled; failing that, only the index and the shards holding the two tensors
are downloaded). Only a model without safetensors files is loaded whole, once, and dropped.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from autointerp.records import Latent

logger = logging.getLogger(__name__)

UNEMBEDDING_KEYS = ("lm_head.weight", "embed_out.weight", "model.embed_tokens.weight", "transformer.wte.weight",
                    "gpt_neox.embed_in.weight")
"""State-dict names of the unembedding, first match wins (the last three are tied input embeddings)."""
FINAL_NORM_KEYS = ("model.norm.weight", "transformer.ln_f.weight", "gpt_neox.final_layer_norm.weight",
                   "model.final_layernorm.weight")
"""State-dict names of the final norm's gain, first match wins; none found means no norm gain."""


class OutputTokens:
    """`tokens(latent)`: the latent's top `k` logit-lens tokens, or None when its decoder width is not the model's."""

    def __init__(self, decoders: dict[str, torch.Tensor], unembedding: torch.Tensor, tokenizer: Any, k: int = 10):
        """decoders: {hookpoint: W_dec [d_sae, d_out]}; unembedding: [vocab, d] with the norm gain folded in."""
        self.decoders = decoders
        self.unembedding = unembedding.float()
        self.tokenizer = tokenizer
        self.k = k
        for hookpoint, W_dec in decoders.items():
            if W_dec.shape[1] != unembedding.shape[1]:  # e.g. a coder on an attention projection
                logger.info("no output tokens for %s: decoder width %d is not the model's %d",
                            hookpoint, W_dec.shape[1], unembedding.shape[1])

    def tokens(self, latent: Latent) -> list[str] | None:
        """The tokens the latent's decoder row promotes most, strongest first."""
        from autointerp.explainers.logit_lens import top_output_tokens

        W_dec = self.decoders.get(latent.hookpoint)
        if W_dec is None or W_dec.shape[1] != self.unembedding.shape[1]:
            return None
        return top_output_tokens(W_dec[latent.index], self.unembedding, self.tokenizer, k=self.k)


def build_output_tokens(model: str, sparse_model: str, hookpoints: list[str], tokenizer: Any,
                        k: int = 10) -> OutputTokens:
    """Load the coders' decoder rows and the model's effective unembedding once for the run."""
    from autointerp.models.sparse_coders import load_sparse_coders, resolve_sparse_model

    coders = load_sparse_coders(resolve_sparse_model(sparse_model), hookpoints)
    decoders = {hp: c.W_dec.detach().float() for hp, c in coders.items()}  # [d_sae, d_out]
    return OutputTokens(decoders, load_unembedding(model), tokenizer, k=k)


def load_unembedding(model: str) -> torch.Tensor:
    """The model's unembedding [vocab, d] times its final norm's gain (see the module docstring)."""
    tensors, model_type = _read_tensors(model)
    key = next((k for k in UNEMBEDDING_KEYS if k in tensors), None)
    if key is None:
        raise ValueError(f"model: {model} has none of the unembedding tensors {UNEMBEDDING_KEYS}")
    unembedding = tensors[key].float()
    norm = next((tensors[k].float() for k in FINAL_NORM_KEYS if k in tensors), None)
    if norm is None:
        return unembedding
    if model_type.startswith("gemma"):  # Gemma's RMSNorm scales by (1 + weight)
        norm = norm + 1.0
    return unembedding * norm[None, :]


def _read_tensors(model: str) -> tuple[dict[str, torch.Tensor], str]:
    """({name: tensor} of the wanted names that exist, model_type), reading as little as possible."""
    from autointerp.models.subject import resolve_model_source

    source, kwargs = resolve_model_source(model)
    folder = Path(source)
    if "gguf_file" in kwargs:
        folder = _gguf_weights_folder(folder / kwargs["gguf_file"])
    if not folder.is_dir() and not kwargs:
        folder = _hub_folder(source) or folder
    if folder.is_dir() and list(folder.glob("*.safetensors")):
        found = _read_safetensors(folder)
        if any(k in found for k in UNEMBEDDING_KEYS):
            return found, _model_type(folder)
    return _read_from_model(model)


def _hub_folder(model_id: str) -> Path | None:
    """A local folder with the safetensors of hub model `model_id` that hold the wanted tensors, or None.

    The hub cache first (predict downloaded the model there); else the index and only the shards
    that hold the unembedding and the final norm."""
    import huggingface_hub

    from autointerp.models import hub

    if not hub.looks_like_hub_id(model_id):
        return None
    snapshot = hub.cached_snapshot(model_id)
    if snapshot is not None and list(snapshot.glob("*.safetensors")):
        return snapshot
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        return None
    listing = set(hub.list_files(model_id))
    base = [name for name in ("config.json",) if name in listing]
    if "model.safetensors.index.json" in listing:
        index = hub.download(model_id, [*base, "model.safetensors.index.json"]) / "model.safetensors.index.json"
        weight_map = json.loads(index.read_text())["weight_map"]
        shards = sorted({weight_map[k] for k in (*UNEMBEDDING_KEYS, *FINAL_NORM_KEYS) if k in weight_map})
        return hub.download(model_id, [*base, "model.safetensors.index.json", *shards])
    if "model.safetensors" in listing:
        return hub.download(model_id, [*base, "model.safetensors"])
    return None


def _gguf_weights_folder(gguf: Path) -> Path:
    """The GGUF's cached float32 weights folder, converting it now if it is not cached yet."""
    from autointerp.models.gguf_cache import cache_dir_for, load_gguf_model

    cached = cache_dir_for(gguf, "models")
    if not (cached / "model.safetensors").is_file():
        load_gguf_model(gguf, torch.float32)  # writes the cache; the returned model is dropped at once
    return cached


def _read_safetensors(folder: Path) -> dict[str, torch.Tensor]:
    """Only the wanted tensors, from every safetensors file of the folder (sharded or not)."""
    from safetensors import safe_open

    wanted = set(UNEMBEDDING_KEYS) | set(FINAL_NORM_KEYS)
    found: dict[str, torch.Tensor] = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as handle:
            for name in wanted.intersection(handle.keys()):
                found[name] = handle.get_tensor(name)
    return found


def _model_type(folder: Path) -> str:
    config = folder / "config.json"
    return str(json.loads(config.read_text()).get("model_type", "")) if config.is_file() else ""


def _read_from_model(model: str) -> tuple[dict[str, torch.Tensor], str]:
    """Load the whole model once (hub ids), copy the wanted tensors, drop the model."""
    from autointerp.models.subject import load_subject

    subject, _ = load_subject(model)
    state = subject.state_dict()
    found = {k: state[k].detach().clone() for k in (*UNEMBEDDING_KEYS, *FINAL_NORM_KEYS) if k in state}
    if not any(k in found for k in UNEMBEDDING_KEYS):  # unusual names: ask the model itself
        found["lm_head.weight"] = subject.get_output_embeddings().weight.detach().clone()
    model_type = str(getattr(subject.config, "model_type", ""))
    del subject, state
    return found, model_type
