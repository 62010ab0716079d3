"""The programmatic `LatentCache` (the spec's Python API).

`autointerp.models.encode` is the one place a batch's activations become (token_index, latent,
value) nonzeros; `LatentCacheModule.predict_step` and `LatentCache.run` both use it and hand the
result to `ShardSink`, so the CLI and the Python API write the same cache. `encode_batch` is
re-exported here for existing callers.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from autointerp.latents.writer import ShardSink, build_manifest, clear_cache_dir, write_manifest
from autointerp.models.encode import HostCopy, encode_batch, encode_on_device

__all__ = ["LatentCache", "encode_batch", "nonzeros_to_numpy"]

logger = logging.getLogger(__name__)


def nonzeros_to_numpy(latents: Mapping[str, tuple]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Tensors -> numpy arrays, per hookpoint."""
    return {hp: tuple(t.numpy() if hasattr(t, "numpy") else np.asarray(t) for t in nz) for hp, nz in latents.items()}


class LatentCache:
    """Cache the sparse latents of `model` at the hookpoints of `submodule_dict` (the spec's Python API).

    `submodule_dict` maps hookpoint names (`layers.15`) to sparse coders (anything with
    `encode(x[N, d_in]) -> (token, latent, value)`, `d_sae` and, for transcoders, `transcoder=True`).
    """

    def __init__(
        self,
        model,
        submodule_dict: Mapping[str, Any],
        batch_size: int = 8,
        *,
        filter_bos: bool = False,
        bos_token_id: int | None = None,
        activation_dtype: str = "float16",
        flush_tokens: int = 2**17,
    ):
        from autointerp.models.hookpoints import HookpointRunner

        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not submodule_dict:
            raise ValueError("submodule_dict: give at least one hookpoint -> sparse coder")
        if filter_bos and bos_token_id is None:
            bos_token_id = getattr(getattr(model, "config", None), "bos_token_id", None)
            if bos_token_id is None:
                raise ValueError("filter_bos=True needs bos_token_id (the model config has none)")
        self.model = model
        self.coders = dict(submodule_dict)
        self.batch_size = batch_size
        self.bos_token_id = bos_token_id if filter_bos else None
        self.activation_dtype = activation_dtype
        self.flush_tokens = flush_tokens
        read_input = {hp: bool(getattr(c, "transcoder", False)) for hp, c in self.coders.items()}
        self.runner = HookpointRunner(model, list(self.coders), read_input=read_input)
        self._parts: dict[str, Any] | None = None
        self._dir: Path | None = None

    def run(self, n_tokens: int, tokens, save_dir: str | Path | None = None) -> None:
        """Encode the first `n_tokens` tokens of `tokens` [N, T] (whole rows), streaming shards to disk.

        Without `save_dir` the shards go to a temporary folder that `save()` moves into place.
        """
        import torch

        tokens = torch.as_tensor(tokens)
        if tokens.ndim != 2:
            raise ValueError(f"tokens must be [n_rows, ctx_len], got shape {tuple(tokens.shape)}")
        n_rows = min(len(tokens), n_tokens // tokens.shape[1])
        if n_rows < 1:
            raise ValueError(f"n_tokens={n_tokens} is smaller than one row of {tokens.shape[1]} tokens")
        self._dir = Path(save_dir) if save_dir is not None else Path(tempfile.mkdtemp(prefix="latent-cache-"))
        clear_cache_dir(self._dir)
        d_sae = {hp: int(c.d_sae) for hp, c in self.coders.items()}
        sink = ShardSink(self._dir, d_sae, flush_tokens=self.flush_tokens, activation_dtype=self.activation_dtype)
        device = next(self.model.parameters()).device
        for start in range(0, n_rows, self.batch_size):
            batch = tokens[start : min(start + self.batch_size, n_rows)].to(device)
            rows = torch.arange(start, start + len(batch))
            acts = self.runner(batch)
            latents = encode_on_device(acts, self.coders, batch, self.bos_token_id)
            sink.add(*HostCopy(rows, batch, latents).numpy())
        self._parts = sink.close()
        logger.info("cached %d rows at %s", n_rows, list(self.coders))

    def save(self, folder: str | Path, **meta: Any) -> Path:
        """Write the cache to `folder` (it becomes the latents folder holding manifest.json); returns the manifest path.

        `meta` may set manifest fields: model, sparse_model, dataset.
        """
        if self._parts is None or self._dir is None:
            raise RuntimeError("LatentCache.save: call run() first")
        folder = Path(folder)
        if folder.resolve() != self._dir.resolve():
            clear_cache_dir(folder)
            for item in self._dir.iterdir():
                shutil.move(str(item), folder / item.name)
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = folder
        manifest = build_manifest(
            [self._parts],
            {
                "hookpoints": list(self.coders),
                "d_sae": {hp: int(c.d_sae) for hp, c in self.coders.items()},
                "activation_dtype": self.activation_dtype,
                "filter_bos": self.bos_token_id is not None,
                "model": meta.get("model", getattr(getattr(self.model, "config", None), "name_or_path", None)),
                "sparse_model": meta.get("sparse_model"),
                "dataset": meta.get("dataset"),
            },
        )
        return write_manifest(folder, manifest)
