"""Readers for one sparse coder folder in each on-disk format; nothing is unpickled.

- EleutherAI sparsify: `cfg.json` + `sae.safetensors` (TopK; `encoder.weight` [d_sae, d_in],
  `encoder.bias`, `W_dec` [d_sae, d_out], `b_dec`; cfg `k`, `num_latents` or `expansion_factor`,
  `d_in`, `transcode`).
- SAELens: `cfg.json` + `sae_weights.safetensors` (`W_enc` [d_in, d_sae], `b_enc`, `W_dec`, `b_dec`,
  `threshold`; cfg `architecture` or `activation_fn_str`: standard/relu, topk, jumprelu).
- Gemma Scope: `params.npz` (`W_enc`, `b_enc`, `W_dec`, `b_dec`, `threshold`; JumpReLU).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autointerp.models.sparse_coders.base import JumpReluCoder, ReluCoder, SparseCoder, TopKCoder

SPARSIFY_WEIGHTS = "sae.safetensors"
SAELENS_WEIGHTS = "sae_weights.safetensors"
GEMMA_SCOPE_PARAMS = "params.npz"
CONFIG = "cfg.json"
WEIGHT_FILES = (SPARSIFY_WEIGHTS, SAELENS_WEIGHTS, GEMMA_SCOPE_PARAMS)


def _read_config(folder: Path) -> dict[str, Any]:
    """cfg.json as a dict, with errors naming the file."""
    path = folder / CONFIG
    if not path.is_file():
        raise ValueError(f"sparse_model: {folder} is incomplete: {CONFIG} is missing")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"sparse_model: cannot read {path}: {err}") from err
    if not isinstance(config, dict):
        raise ValueError(f"sparse_model: {path} must hold a JSON object")
    return config


def _read_tensors(path: Path, keys: list[str], optional: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """The named tensors of a safetensors or npz file (npz without pickle)."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                found = {key: torch.from_numpy(np.array(data[key])) for key in data.files}
        else:
            from safetensors.torch import load_file

            found = load_file(str(path))
    except Exception as err:  # corrupt files raise many types; the message names the file
        raise ValueError(f"sparse_model: cannot read {path}: {err}") from err
    missing = [key for key in keys if key not in found]
    if missing:
        raise ValueError(f"sparse_model: {path} lacks tensor(s) {missing}; it holds {sorted(found)}")
    return {key: found[key] for key in [*keys, *optional] if key in found}


def _cast(tensors: dict[str, torch.Tensor], dtype: torch.dtype, device) -> dict[str, torch.Tensor]:
    """Every tensor to the requested dtype and device."""
    return {key: value.to(device=device, dtype=dtype) for key, value in tensors.items()}


def _int_setting(config: dict[str, Any], key: str, path: Path) -> int:
    """A positive integer from a config, with an error naming the key."""
    value = config.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"sparse_model: {path / CONFIG} needs a positive integer {key!r}, got {value!r}")
    return value


def load_sparsify(folder: Path, hookpoint: str, dtype: torch.dtype, device) -> SparseCoder:
    """An EleutherAI sparsify TopK SAE or transcoder."""
    config = _read_config(folder)
    if not (folder / SPARSIFY_WEIGHTS).is_file():
        raise ValueError(f"sparse_model: {folder} is incomplete: {SPARSIFY_WEIGHTS} is missing")
    k = _int_setting(config, "k", folder)
    t = _cast(_read_tensors(folder / SPARSIFY_WEIGHTS, ["encoder.weight", "encoder.bias", "W_dec", "b_dec"]), dtype, device)
    d_sae, d_in = t["encoder.weight"].shape
    expected = config.get("num_latents") or (config.get("expansion_factor", 0) * config.get("d_in", d_in))
    if expected and expected != d_sae:
        raise ValueError(f"sparse_model: {folder / CONFIG} says {expected} latents, the weights have {d_sae}")
    if config.get("d_in", d_in) != d_in:
        raise ValueError(f"sparse_model: {folder / CONFIG} says d_in={config['d_in']}, the weights have {d_in}")
    transcoder = bool(config.get("transcode", False))
    return TopKCoder(
        t["encoder.weight"], t["encoder.bias"], t["W_dec"], t["b_dec"], k=k,
        hookpoint=hookpoint, transcoder=transcoder, subtract_b_dec=not transcoder,
    )


def _saelens_activation(config: dict[str, Any]) -> str:
    """relu, topk or jumprelu from a SAELens cfg (new `architecture` or old `activation_fn_str`)."""
    architecture = str(config.get("architecture", "standard")).lower()
    for name in ("jumprelu", "topk", "gated"):
        if name in architecture:
            return name
    return str(config.get("activation_fn_str") or config.get("activation_fn") or "relu").lower()


def _saelens_checked_config(folder: Path) -> tuple[dict[str, Any], str]:
    """cfg.json and its activation, refusing what we cannot encode faithfully."""
    config = _read_config(folder)
    if not (folder / SAELENS_WEIGHTS).is_file():
        raise ValueError(f"sparse_model: {folder} is incomplete: {SAELENS_WEIGHTS} is missing")
    activation = _saelens_activation(config)
    if activation not in ("relu", "topk", "jumprelu"):
        raise ValueError(f"sparse_model: {folder / CONFIG}: activation {activation!r} is not supported (relu, topk, jumprelu)")
    normalize = config.get("normalize_activations") or "none"
    if normalize != "none":
        raise ValueError(f"sparse_model: {folder / CONFIG}: normalize_activations={normalize!r} is not supported")
    return config, activation


def _saelens_tensors(folder: Path, activation: str, config: dict[str, Any], dtype, device) -> dict[str, torch.Tensor]:
    """The weights, with `threshold` for jumprelu (from `log_threshold` in training checkpoints)."""
    path = folder / SAELENS_WEIGHTS
    t = _read_tensors(path, ["W_enc", "b_enc", "W_dec", "b_dec"], optional=("threshold", "log_threshold"))
    if activation == "jumprelu" and "threshold" not in t:
        if "log_threshold" not in t:
            raise ValueError(f"sparse_model: {path} lacks tensor(s) ['threshold'] for a jumprelu SAE")
        t["threshold"] = t.pop("log_threshold").float().exp()
    t = _cast(t, dtype, device)
    for key, actual in zip(("d_in", "d_sae"), t["W_enc"].shape):
        if config.get(key, actual) != actual:
            raise ValueError(f"sparse_model: {folder / CONFIG} says {key}={config[key]}, the weights have {actual}")
    return t


def load_saelens(folder: Path, hookpoint: str, dtype: torch.dtype, device) -> SparseCoder:
    """A SAELens SAE or transcoder (relu, topk or jumprelu)."""
    config, activation = _saelens_checked_config(folder)
    t = _saelens_tensors(folder, activation, config, dtype, device)
    architecture = str(config.get("architecture", "")).lower()
    transcoder = bool(config.get("transcode")) or "transcoder" in architecture or "d_out" in config
    args = (t["W_enc"].T.contiguous(), t["b_enc"], t["W_dec"], t["b_dec"])
    common = dict(hookpoint=hookpoint, transcoder=transcoder,
                  # SAELens' own default when the key is absent is True.
                  subtract_b_dec=bool(config.get("apply_b_dec_to_input", True)) and not transcoder)
    if activation == "topk":
        k = config.get("k") or (config.get("activation_fn_kwargs") or {}).get("k")
        if not isinstance(k, int):
            raise ValueError(f"sparse_model: {folder / CONFIG}: a topk SAE needs 'k' (or activation_fn_kwargs.k)")
        return TopKCoder(*args, k=k, **common)
    if activation == "jumprelu":
        return JumpReluCoder(*args, threshold=t["threshold"], **common)
    return ReluCoder(*args, **common)


def load_gemma_scope(folder: Path, hookpoint: str, dtype: torch.dtype, device, transcoder: bool = False) -> SparseCoder:
    """A Gemma Scope JumpReLU SAE (or transcoder, when told: the npz does not say)."""
    keys = ["W_enc", "b_enc", "W_dec", "b_dec", "threshold"]
    t = _cast(_read_tensors(folder / GEMMA_SCOPE_PARAMS, keys), dtype, device)
    return JumpReluCoder(
        t["W_enc"].T.contiguous(), t["b_enc"], t["W_dec"], t["b_dec"], threshold=t["threshold"],
        hookpoint=hookpoint, transcoder=transcoder, subtract_b_dec=False,
    )


def detect_format(folder: Path) -> str:
    """'sparsify', 'saelens' or 'gemma_scope' from the files present; names what is missing otherwise."""
    if (folder / GEMMA_SCOPE_PARAMS).is_file():
        return "gemma_scope"
    if (folder / SPARSIFY_WEIGHTS).is_file():
        return "sparsify"
    if (folder / SAELENS_WEIGHTS).is_file():
        return "saelens"
    if (folder / CONFIG).is_file():
        config = _read_config(folder)
        saelens = "d_sae" in config or "architecture" in config or "hook_name" in config
        weights = SAELENS_WEIGHTS if saelens else SPARSIFY_WEIGHTS
        raise ValueError(f"sparse_model: {folder} is incomplete: {weights} is missing")
    raise ValueError(
        f"sparse_model: {folder} holds no sparse coder: expected {CONFIG} + {SPARSIFY_WEIGHTS} "
        f"(sparsify), {CONFIG} + {SAELENS_WEIGHTS} (SAELens) or {GEMMA_SCOPE_PARAMS} (Gemma Scope)"
    )
