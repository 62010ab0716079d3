"""Load the sparse coders of several hookpoints from a folder or a hub id, and check them against a model."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from autointerp.models.sparse_coders import formats
from autointerp.models.sparse_coders.base import SparseCoder

logger = logging.getLogger(__name__)


def _holds_coder(folder: Path) -> bool:
    """True when a folder has any file of a known sparse coder layout."""
    return any((folder / name).is_file() for name in (*formats.WEIGHT_FILES, formats.CONFIG))


def available_hookpoints(root: Path) -> list[str]:
    """Subfolders of `root` that hold a sparse coder, sorted."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _holds_coder(p)) if root.is_dir() else []


def _resolve_root(path_or_id: str, hookpoints: list[str], local_files_only: bool = False) -> Path:
    """A local folder for `path_or_id`, downloading the hookpoints' files of a hub id that is not a local path.

    `local_files_only`: the files were fetched before (`LatentCacheModule.prepare_data`, once per
    node); use the local hub cache and never the network."""
    from autointerp.models import hub

    if not path_or_id:
        raise ValueError("sparse_model: no path or hub id given")
    root = Path(path_or_id).expanduser()
    if root.exists():
        if not root.is_dir():
            raise ValueError(f"sparse_model: {root} is not a folder")
        return root
    if hub.looks_like_hub_id(path_or_id):
        if local_files_only:
            return hub.download(path_or_id, local_files_only=True)
        return hub.fetch_coders(path_or_id, hookpoints)
    raise ValueError(f"sparse_model: {path_or_id!r} is neither an existing folder nor a hub id (owner/name)")


def _folder_for(root: Path, hookpoint: str, n_hookpoints: int) -> Path:
    """The folder of one hookpoint's coder: `root/<hookpoint>`, or root itself for a lone coder."""
    if (root / hookpoint).is_dir():
        return root / hookpoint
    if n_hookpoints == 1 and _holds_coder(root):
        return root
    raise ValueError(
        f"hookpoints: {root} has no sparse coder for hookpoint {hookpoint!r}; "
        f"it holds {available_hookpoints(root) or 'none'}"
    )


def load_sparse_coder(folder: str | Path, hookpoint: str = "", *, device="cpu", dtype=None,
                      transcode: bool | None = None) -> SparseCoder:
    """Load one coder from one folder in whichever format its files show."""
    folder = Path(folder)
    dtype = dtype or torch.float32
    kind = formats.detect_format(folder)
    if kind == "gemma_scope":
        coder = formats.load_gemma_scope(folder, hookpoint, dtype, device, transcoder=bool(transcode))
    elif kind == "sparsify":
        coder = formats.load_sparsify(folder, hookpoint, dtype, device)
    else:
        coder = formats.load_saelens(folder, hookpoint, dtype, device)
    if transcode is not None:
        coder.transcoder = transcode
    return coder.eval()


def load_sparse_coders(
    path_or_id: str,
    hookpoints: list[str] | None = None,
    *,
    device="cpu",
    dtype=None,
    transcode: bool | None = None,
    local_files_only: bool = False,
) -> dict[str, SparseCoder]:
    """{hookpoint: coder} from a folder with one subfolder per hookpoint (or one coder), or a hub id.

    No hookpoints: every hookpoint subfolder found. `transcode` overrides what the files say
    (Gemma Scope npz files cannot say it). `local_files_only`: a hub id is read from the local hub
    cache only (its files were downloaded before).
    """
    hookpoints = list(hookpoints or [])
    root = _resolve_root(path_or_id, hookpoints, local_files_only)
    if not hookpoints:
        hookpoints = available_hookpoints(root)
        if not hookpoints:
            raise ValueError(f"hookpoints: none given and {root} has no hookpoint subfolders")
    folders = {h: _folder_for(root, h, len(hookpoints)) for h in hookpoints}
    return {h: load_sparse_coder(f, h, device=device, dtype=dtype, transcode=transcode) for h, f in folders.items()}


def check_compatible(coders: Mapping[str, SparseCoder], model: nn.Module) -> None:
    """Raise before any forward pass when a hookpoint is unknown or a coder's width is not the model's."""
    from autointerp.models.hookpoints import hidden_size, resolve_hookpoints

    resolve_hookpoints(model, list(coders))
    width = hidden_size(model)
    for hookpoint, coder in coders.items():
        if coder.d_in != width:
            raise ValueError(
                f"sparse_model: the coder for hookpoint {hookpoint!r} reads d_in={coder.d_in}, "
                f"but the model's hidden size is {width}"
            )


PACKAGE_DIR = Path(__file__).resolve().parents[2]
"""The installed `autointerp` package folder (its `assets/` hold the shipped SAE)."""


def resolve_sparse_model(sparse_model: str) -> str:
    """A path under the package's `assets/` (e.g. `assets/smollm2-135m-instruct-topk`) when it is not a local path."""
    if Path(sparse_model).expanduser().exists():
        return sparse_model
    for prefix in ("assets/", "autointerp/assets/"):
        if sparse_model.startswith(prefix):
            candidate = PACKAGE_DIR / "assets" / sparse_model[len(prefix):]
            if candidate.exists():
                return str(candidate)
    return sparse_model
