"""The SAE shipped in the package: readable by the loader, the promised shape, small, unit-norm decoder."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

import autointerp
from autointerp.models.sparse_coders import load_sparse_coders

SHIPPED = Path(autointerp.__file__).parent / "assets" / "smollm2-135m-instruct-topk"


def test_shipped_sae_loads_with_the_documented_shape_and_size():
    folder = SHIPPED / "layers.15"
    cfg = json.loads((folder / "cfg.json").read_text())
    assert (cfg["d_in"], cfg["num_latents"], cfg["k"], cfg["transcode"]) == (576, 4608, 32, False)
    assert sum(f.stat().st_size for f in folder.iterdir()) < 12 * 2**20
    tensors = load_file(str(folder / "sae.safetensors"))
    assert {t.dtype for t in tensors.values()} == {torch.float16}
    norms = tensors["W_dec"].float().norm(dim=1)
    torch.testing.assert_close(norms, torch.ones(4608), atol=2e-3, rtol=0)

    coder = load_sparse_coders(str(SHIPPED), ["layers.15"], device="cpu", dtype=torch.float32)["layers.15"]
    assert (coder.d_in, coder.d_sae, coder.k) == (576, 4608, 32)
    torch.testing.assert_close(coder.W_dec, tensors["W_dec"].float())
