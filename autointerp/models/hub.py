"""Download exactly the files a run needs from a hub repository, once per node.

huggingface_hub's `allow_patterns` are fnmatch patterns, where `*` also matches `/`: `*.json` asks
for every `cfg.json` of every layer folder. So the repository is listed first and the wanted files
are chosen here by exact path; the download then names those files only (escaped, so a `[` in a
name is not a character class).
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

CODER_SUFFIXES = (".json", ".safetensors", ".npz")
"""Root-level files of a single-coder repository (sparsify, SAELens, Gemma Scope layouts)."""
MODEL_SUFFIXES = (".json", ".safetensors", ".model", ".txt", ".tiktoken")
"""Root-level files a transformers model needs: config, weights, tokenizer."""


def looks_like_hub_id(text: str) -> bool:
    """`owner/name` with no path-like start."""
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~", "/"))


def coder_files(listing: Iterable[str], hookpoints: list[str]) -> list[str]:
    """Files of a coder repository for `hookpoints`: everything under `<hookpoint>/`, or the root-level
    coder files when a single hookpoint has no folder (a single-coder repository)."""
    listing = sorted(listing)
    chosen = [f for f in listing if any(f.startswith(f"{h}/") for h in hookpoints)]
    missing = [h for h in hookpoints if not any(f.startswith(f"{h}/") for f in listing)]
    if missing and len(hookpoints) == 1:
        chosen += [f for f in listing if "/" not in f and f.endswith(CODER_SUFFIXES)]
    return chosen


def model_files(listing: Iterable[str]) -> list[str]:
    """Root-level config, safetensors weights and tokenizer files of a model repository (no `original/` copies)."""
    return sorted(f for f in listing if "/" not in f and f.endswith(MODEL_SUFFIXES))


def exact_patterns(files: list[str]) -> list[str]:
    """fnmatch patterns that match exactly these paths."""
    return [glob.escape(f) for f in files]


def download(repo_id: str, files: list[str] | None = None, *, local_files_only: bool = False) -> Path:
    """The local snapshot folder of `repo_id` holding `files` (None: every file), downloading what is missing."""
    from huggingface_hub import snapshot_download

    patterns = None if files is None else exact_patterns(files)
    return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=local_files_only))


def list_files(repo_id: str) -> list[str]:
    """Every file path of a hub repository (one API call)."""
    from huggingface_hub import HfApi

    return HfApi().list_repo_files(repo_id)


def fetch_coders(repo_id: str, hookpoints: list[str]) -> Path:
    """Download the coders of `hookpoints` only; returns the snapshot folder."""
    files = coder_files(list_files(repo_id), hookpoints) if hookpoints else None
    if files is not None and not files:
        raise ValueError(f"hookpoints: the hub repository {repo_id} has no files for {hookpoints}")
    logger.info("downloading %s files of %s for %s", "all" if files is None else len(files), repo_id, hookpoints)
    return download(repo_id, files)


def fetch_model(repo_id: str) -> Path:
    """Download a model's config, safetensors weights and tokenizer files; returns the snapshot folder."""
    files = model_files(list_files(repo_id))
    logger.info("downloading %d files of %s", len(files), repo_id)
    return download(repo_id, files)


def cached_snapshot(repo_id: str) -> Path | None:
    """The snapshot folder of `repo_id` already in the local hub cache, or None (no network)."""
    try:
        return download(repo_id, local_files_only=True)
    except Exception:  # not cached (LocalEntryNotFoundError and kin): the caller decides
        return None
