"""Save a trained `TopKSae` in EleutherAI's sparsify layout, which `load_sparse_coders` reads.

    <save_dir>/<hookpoint>/cfg.json          k, num_latents, d_in, transcode, activation, ...
    <save_dir>/<hookpoint>/sae.safetensors   encoder.weight [d_sae, d_in], encoder.bias [d_sae],
                                             W_dec [d_sae, d_in], b_dec [d_in]
"""

from __future__ import annotations

from pathlib import Path

import torch

from autointerp.io import atomic_write_bytes, write_json
from autointerp.training.topk_sae import TopKSae

SAVE_DTYPES = ("float32", "float16", "bfloat16")


def save_sparsify(sae: TopKSae, folder: str | Path, dtype: str = "float32", extra_cfg: dict | None = None) -> Path:
    """Write cfg.json and sae.safetensors into `folder` (atomically); returns the folder."""
    from safetensors.torch import save_file

    if dtype not in SAVE_DTYPES:
        raise ValueError(f"save_dtype: {dtype!r} is not one of {SAVE_DTYPES}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch_dtype = getattr(torch, dtype)
    tensors = {
        "encoder.weight": sae.encoder.weight,
        "encoder.bias": sae.encoder.bias,
        "W_dec": sae.W_dec,
        "b_dec": sae.b_dec,
    }
    tensors = {name: t.detach().to("cpu", torch_dtype).contiguous() for name, t in tensors.items()}
    atomic_write_bytes(folder / "sae.safetensors", lambda tmp: save_file(tensors, tmp))
    cfg = {
        "activation": "topk",
        "k": sae.k,
        "num_latents": sae.num_latents,
        "expansion_factor": sae.num_latents // sae.d_in,
        "d_in": sae.d_in,
        "transcode": sae.transcode,
        "normalize_decoder": True,
        "multi_topk": False,
        "skip_connection": False,
        **(extra_cfg or {}),
    }
    write_json(folder / "cfg.json", cfg)
    return folder
