"""The typed manifest: one reader and writer, clear errors on a malformed file, old manifests still load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autointerp.io import write_json
from autointerp.latents.format import MANIFEST, CacheReader
from autointerp.latents.manifest import HookpointFiles, Manifest, ManifestError
from autointerp.latents.writer import ShardSink, build_manifest, write_manifest
from autointerp.pipeline.fingerprint import cache_identity

CTX, D_SAE = 4, 6
KEYS = ["format_version", "model", "sparse_model", "hookpoints", "ctx_len", "n_rows", "n_tokens", "token_files",
        "per_hookpoint", "dtypes", "filter_bos", "dataset"]
"""The README's manifest keys, in order."""

OLD = {"hookpoints": ["hp"], "ctx_len": CTX, "n_rows": 3, "token_files": ["tokens-rank0.safetensors"],
       "per_hookpoint": {"hp": {"d_sae": D_SAE, "shards": ["hp/shard-r0-0.safetensors"]}}}
"""A manifest of the earliest kind: no n_tokens, nnz, dtypes, filter_bos, dataset, model or format_version."""


def test_written_manifest_reads_back_equal_with_the_documented_keys(tmp_path):
    sink = ShardSink(tmp_path, {"hp": D_SAE}, rank=0)
    latents = {"hp": (np.array([0, 5]), np.array([1, 2]), np.array([0.5, 1.5], np.float32))}
    sink.add(np.arange(2), np.zeros((2, CTX), np.int64), latents)
    built = build_manifest([sink.close()], {"hookpoints": ["hp"], "d_sae": {"hp": D_SAE}, "model": "m",
                                            "filter_bos": True, "dataset": {"seed": 3}})
    write_manifest(tmp_path, built)
    on_disk = json.loads((tmp_path / MANIFEST).read_text())
    assert list(on_disk) == KEYS
    assert on_disk["per_hookpoint"] == {"hp": {"d_sae": D_SAE, "shards": built.per_hookpoint["hp"].shards, "nnz": 2}}
    assert Manifest.read(tmp_path) == built
    assert built.n_tokens == built.total_tokens == 2 * CTX and built.filter_bos is True


def test_an_old_manifest_loads_and_keeps_its_fingerprint(tmp_path):
    write_json(tmp_path / MANIFEST, OLD)
    manifest = Manifest.read(tmp_path)
    assert manifest.per_hookpoint == {"hp": HookpointFiles(d_sae=D_SAE, shards=["hp/shard-r0-0.safetensors"])}
    assert manifest.n_tokens is None and manifest.total_tokens == 3 * CTX
    assert manifest.model is None and manifest.filter_bos is False and manifest.dtypes == {}
    # what the dict-based fingerprint read from this file: absent keys as None, nnz None per hookpoint
    expected = {"model": None, "sparse_model": None, "hookpoints": ["hp"], "ctx_len": CTX, "n_rows": 3,
                "n_tokens": None, "dataset": None, "token_files": ["tokens-rank0.safetensors"], "nnz": {"hp": None}}
    assert cache_identity(manifest) == expected


@pytest.mark.parametrize(("change", "names"), [
    ({"ctx_len": None}, "field ctx_len is missing"),
    ({"n_rows": "3"}, "field n_rows should be int, got str '3'"),
    ({"filter_bos": 1}, "field filter_bos should be bool"),
    ({"hookpoints": ["hp", "other"]}, "per_hookpoint.other is missing"),
    ({"per_hookpoint": {"hp": {"shards": []}}}, "field per_hookpoint.hp.d_sae is missing"),
    ({"per_hookpoint": {"hp": {"d_sae": True, "shards": []}}}, "field per_hookpoint.hp.d_sae should be int"),
])
def test_a_malformed_manifest_names_the_file_and_the_field(tmp_path, change, names):
    data = {**OLD, **change}
    data = {k: v for k, v in data.items() if v is not None}
    write_json(tmp_path / MANIFEST, data)
    with pytest.raises(ManifestError, match=str(tmp_path / MANIFEST)) as info:
        CacheReader(tmp_path)
    assert names in str(info.value)


def test_a_manifest_that_is_not_json_or_absent_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.json is missing"):
        Manifest.read(tmp_path)
    (tmp_path / MANIFEST).write_text("{ truncated")
    with pytest.raises(ManifestError, match="manifest.json: not valid JSON"):
        Manifest.read(tmp_path)
    (tmp_path / MANIFEST).write_text("[]")
    with pytest.raises(ManifestError, match="expected a JSON object, got list"):
        Manifest.read(tmp_path)
