"""The calibration hookpoint: known-answer latents written in the cache format next to the real hookpoints.

    <run>/latents/known_answer/manifest.json              a manifest of its own (the real one is untouched,
                                                          so the real latents' results stay current)
    <run>/latents/known_answer/shard-r0-0.safetensors     latent j fires exactly on set j's tokens

Its manifest names the run's token files (`../tokens-rank<R>.safetensors`), so a `CacheReader` over
the folder reads the same tokens and a `RecordBuilder` over that reader builds the known-answer
records exactly as it builds the real ones. The sets themselves sit in the manifest under
`known_answer.sets`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from autointerp.latents.format import MANIFEST, CacheReader, build_shard_arrays, save_arrays, shard_name, write_json
from autointerp.latents.known_sets import KnownSet, choose_sets

logger = logging.getLogger(__name__)

HOOKPOINT = "known_answer"
"""The calibration hookpoint's name (and its folder under `latents/`)."""


def known_answer_dir(latents_dir: str | Path) -> Path:
    """`<latents>/known_answer`: the calibration hookpoint's shards and manifest."""
    return Path(latents_dir) / HOOKPOINT


def read_known_sets(latents_dir: str | Path) -> list[KnownSet] | None:
    """The sets of the calibration hookpoint written in this cache, or None when there is none."""
    path = known_answer_dir(latents_dir) / MANIFEST
    if not path.is_file():
        return None
    import json

    return [KnownSet(**s) for s in json.loads(path.read_text())["known_answer"]["sets"]]


def known_answer_reader(latents_dir: str | Path) -> CacheReader:
    """A reader of the calibration hookpoint (its tokens are the run's)."""
    return CacheReader(known_answer_dir(latents_dir))


def set_values(where: np.ndarray) -> np.ndarray:
    """float32 activations of a set's firing token indices: 1.0 to 2.5 by position, float16-exact, so the
    windows spread over quantiles; the value carries no meaning, only where it fires does."""
    return (1.0 + (where % 7) / 4.0).astype(np.float32)


def known_nonzeros(tokens: np.ndarray, sets: list[KnownSet]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(token_index, latent, value) of the known-answer latents over `tokens` [n_rows, ctx_len]."""
    index, latent, value = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
    for j, known in enumerate(sets):
        where = np.flatnonzero(known.fires(tokens).reshape(-1)).astype(np.int64)
        index.append(where)
        latent.append(np.full(len(where), j, dtype=np.int64))
        value.append(set_values(where))
    return np.concatenate(index), np.concatenate(latent), np.concatenate(value)


def write_known_answer(latents_dir: str | Path, tokenizer: Any, n: int, *, width: int, min_windows: int) -> list[KnownSet]:
    """Choose up to `n` sets from the cache's tokens and write them as the calibration hookpoint
    (kept as it is when the same sets are already written); returns the sets."""
    reader = CacheReader(latents_dir)  # fails clearly when predict has not finished
    if HOOKPOINT in reader.hookpoints:
        raise ValueError(f"interpret.calibration: the cache already has a real hookpoint named {HOOKPOINT!r}")
    sets = choose_sets(reader.tokens, tokenizer, n, width=width, min_windows=min_windows)
    if not sets:
        raise ValueError(f"interpret.calibration: no known-answer set fires in {min_windows} windows of this cache's text "
                         "(examples.min_examples); use a larger cache or set calibration: 0")
    before = read_known_sets(latents_dir)
    if before is not None and [s.to_dict() for s in before] == [s.to_dict() for s in sets]:
        return sets
    folder = known_answer_dir(latents_dir)
    (folder / MANIFEST).unlink(missing_ok=True)  # a half-written hookpoint never reads as complete
    arrays = build_shard_arrays(*known_nonzeros(reader.tokens, sets), d_sae=len(sets), activation_dtype="float16")
    save_arrays(folder / shard_name(0, 0), arrays)
    write_json(folder / MANIFEST, _manifest(reader.manifest.to_dict(), sets, arrays))
    logger.info("calibration: %d known-answer latents at %s: %s", len(sets), folder, ", ".join(s.name for s in sets))
    return sets


def _digest(sets: list[KnownSet]) -> str:
    """A short hash of the sets' definitions."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps([s.to_dict() for s in sets], sort_keys=True).encode()).hexdigest()[:16]


def _manifest(real: dict[str, Any], sets: list[KnownSet], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The calibration hookpoint's manifest: the real cache's rows and tokens, one hookpoint of its own."""
    shared = ("format_version", "model", "ctx_len", "n_rows", "n_tokens", "filter_bos", "dataset")
    return {
        **{key: real.get(key) for key in shared},
        "sparse_model": f"known-answer:{_digest(sets)}",  # other sets: other results (the protocol hashes this)
        "hookpoints": [HOOKPOINT],
        "token_files": [f"../{name}" for name in real["token_files"]],
        "per_hookpoint": {HOOKPOINT: {"d_sae": len(sets), "shards": [shard_name(0, 0)], "nnz": len(arrays["token_index"])}},
        "dtypes": {"rows": "int64", "tokens": "int32", **{k: str(arrays[k].dtype) for k in ("token_index", "activations")}},
        "known_answer": {"sets": [s.to_dict() for s in sets]},
    }
