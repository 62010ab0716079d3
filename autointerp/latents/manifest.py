"""`manifest.json`: what produced a latent cache, typed, and the one place that reads and writes it.

Keys (README "The cache on disk"): format_version, model, sparse_model, hookpoints, ctx_len, n_rows,
n_tokens, token_files, per_hookpoint {hookpoint: {d_sae, shards, nnz}}, dtypes, filter_bos, dataset.
Manifests written before a key existed still load: every key after `per_hookpoint` is optional, and
`nnz` and `n_tokens` are kept as None where absent (so a cache's fingerprint does not change).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autointerp.io import write_json

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class ManifestError(ValueError):
    """A manifest file that cannot be read as one: names the file and the field."""


@dataclass
class HookpointFiles:
    """One hookpoint's part of the manifest."""

    d_sae: int
    """Number of latents of the hookpoint's sparse coder."""
    shards: list[str]
    """Shard files, relative to the latents folder."""
    nnz: int | None = None
    """Nonzeros over all shards (None in manifests that predate it)."""


@dataclass(kw_only=True)
class Manifest:
    """The latent cache's `manifest.json` (field order is the file's key order)."""

    format_version: int = FORMAT_VERSION
    model: str | None = None
    """The subject model (also names the tokenizer)."""
    sparse_model: str | None = None
    hookpoints: list[str]
    ctx_len: int
    n_rows: int
    """One past the largest global row index."""
    n_tokens: int | None = None
    """Tokens cached (None in manifests that predate it: see `total_tokens`)."""
    token_files: list[str]
    per_hookpoint: dict[str, HookpointFiles]
    dtypes: dict[str, str] = field(default_factory=dict)
    filter_bos: bool = False
    dataset: dict[str, Any] | None = None
    """The data settings that made the cache (dataset, split, n_tokens, seed), compared on reuse."""

    @property
    def total_tokens(self) -> int:
        """Tokens cached: `n_tokens`, or rows times ctx_len where an old manifest lacks it."""
        return int(self.n_tokens) if self.n_tokens is not None else self.n_rows * self.ctx_len

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)

    def write(self, latents_dir: str | Path) -> Path:
        """Atomically write `manifest.json` into the latents folder; returns its path."""
        path = Path(latents_dir) / MANIFEST
        write_json(path, self.to_dict())
        return path

    @classmethod
    def read(cls, latents_dir: str | Path) -> Manifest:
        """Read and validate the latents folder's manifest (FileNotFoundError when there is none)."""
        path = Path(latents_dir) / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"no latent cache at {path.parent}: {MANIFEST} is missing (did predict finish?)")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{path}: not valid JSON ({exc})") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, source: str = MANIFEST) -> Manifest:
        """Validate a manifest's JSON form; the error names `source` and the field."""
        if not isinstance(data, dict):
            raise ManifestError(f"{source}: expected a JSON object, got {type(data).__name__}")
        get = _Fields(data, source)
        hookpoints = get.required("hookpoints", list)
        entries = get.required("per_hookpoint", dict)
        return cls(
            format_version=get.optional("format_version", int, FORMAT_VERSION),
            model=get.optional("model", str, None),
            sparse_model=get.optional("sparse_model", str, None),
            hookpoints=[str(hp) for hp in hookpoints],
            ctx_len=get.required("ctx_len", int),
            n_rows=get.required("n_rows", int),
            n_tokens=get.optional("n_tokens", int, None),
            token_files=[str(name) for name in get.required("token_files", list)],
            per_hookpoint={str(hp): _hookpoint_files(entries, hp, source) for hp in hookpoints},
            dtypes=dict(get.optional("dtypes", dict, {})),
            filter_bos=bool(get.optional("filter_bos", bool, False)),
            dataset=get.optional("dataset", dict, None),
        )


def _hookpoint_files(entries: dict[str, Any], hookpoint: str, source: str) -> HookpointFiles:
    """One validated `per_hookpoint` entry."""
    entry = entries.get(hookpoint)
    if not isinstance(entry, dict):
        raise ManifestError(f"{source}: per_hookpoint.{hookpoint} is missing or not an object (hookpoints lists it)")
    get = _Fields(entry, source, prefix=f"per_hookpoint.{hookpoint}.")
    return HookpointFiles(d_sae=get.required("d_sae", int), shards=[str(s) for s in get.required("shards", list)],
                          nnz=get.optional("nnz", int, None))


class _Fields:
    """Typed access to a JSON object's keys, with errors naming the file and the field."""

    def __init__(self, data: dict[str, Any], source: str, prefix: str = "") -> None:
        self.data, self.source, self.prefix = data, source, prefix

    def required(self, key: str, kind: type) -> Any:
        if key not in self.data:
            raise ManifestError(f"{self.source}: field {self.prefix}{key} is missing")
        return self._checked(key, kind)

    def optional(self, key: str, kind: type, default: Any) -> Any:
        return default if self.data.get(key) is None else self._checked(key, kind)

    def _checked(self, key: str, kind: type) -> Any:
        value = self.data[key]
        # bool is a subclass of int in Python, but true/false is not a count
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ManifestError(f"{self.source}: field {self.prefix}{key} should be {kind.__name__}, "
                                f"got {type(value).__name__} {value!r}")
        return value


__all__ = ["FORMAT_VERSION", "MANIFEST", "HookpointFiles", "Manifest", "ManifestError"]
