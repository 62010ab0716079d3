"""Hub downloads fetch only the requested hookpoints' files, and a fetched repository is read offline.

No network: the hub is a local "remote" folder. Its listing stands in for `HfApi.list_repo_files`,
and `snapshot_download` copies the files that huggingface_hub's own pattern filter
(`filter_repo_objects`, the one the real download uses) lets through, so the patterns are judged
by the library's matching rules, where `*` also matches `/`.
"""

import shutil
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub.utils import filter_repo_objects
from test_sparse_coders import _weights, _write_sparsify

from autointerp.models import hub
from autointerp.models.sparse_coders import load_sparse_coders

LAYERS = [f"layers.{i}" for i in range(6)]


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """A 6-layer coder repository at tmp_path/remote; returns (remote, the folder downloads land in)."""
    remote, local = tmp_path / "remote", tmp_path / "snapshot"
    for i, hp in enumerate(LAYERS):
        _write_sparsify(remote / hp, _weights(i), k=5)
    (remote / "README.md").write_text("six layers")
    (remote / "config.json").write_text("{}")
    listing = sorted(str(p.relative_to(remote)) for p in remote.rglob("*") if p.is_file())

    def snapshot_download(repo_id, allow_patterns=None, local_files_only=False, **_):
        for name in filter_repo_objects(listing, allow_patterns=allow_patterns):
            (local / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(remote / name, local / name)
        return str(local)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", lambda self, repo_id, **_: listing)
    return remote, local


def _downloaded(local: Path) -> list[str]:
    return sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file())


def test_one_hookpoint_of_a_layered_repo_downloads_that_layer_only(fake_hub):
    _, local = fake_hub
    coders = load_sparse_coders("EleutherAI/sae-six", ["layers.1"])
    assert coders["layers.1"].k == 5
    assert _downloaded(local) == ["layers.1/cfg.json", "layers.1/sae.safetensors"]


def test_two_hookpoints_download_two_layers(fake_hub):
    _, local = fake_hub
    load_sparse_coders("EleutherAI/sae-six", ["layers.2", "layers.4"])
    assert {name.split("/")[0] for name in _downloaded(local)} == {"layers.2", "layers.4"}


def test_single_coder_repo_takes_its_root_files():
    listing = ["README.md", "cfg.json", "sae.safetensors", "other/cfg.json", "other/sae.safetensors"]
    assert hub.coder_files(listing, ["layers.9"]) == ["cfg.json", "sae.safetensors"]
    assert hub.coder_files(listing, ["layers.9", "layers.10"]) == []  # several hookpoints need folders


def test_model_files_leave_out_original_checkpoints():
    listing = ["config.json", "model-00001-of-00002.safetensors", "model.safetensors.index.json",
               "tokenizer.json", "original/consolidated.00.pth", "original/params.json", "LICENSE"]
    assert hub.model_files(listing) == ["config.json", "model-00001-of-00002.safetensors",
                                        "model.safetensors.index.json", "tokenizer.json"]


def test_exact_patterns_match_names_with_brackets_literally():
    names = ["layers.[1]/cfg.json", "layers.1/cfg.json"]
    assert list(filter_repo_objects(names, allow_patterns=hub.exact_patterns(names[:1]))) == names[:1]


def test_fetched_repo_is_read_from_the_hub_cache_offline(tmp_path, monkeypatch):
    # A real huggingface_hub cache layout; HF_HUB_OFFLINE guards against any network call.
    snapshot = tmp_path / "hub" / "models--EleutherAI--sae-six" / "snapshots" / "abc123"
    _write_sparsify(snapshot / "layers.3", _weights(3), k=7)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    coders = load_sparse_coders("EleutherAI/sae-six", ["layers.3"], local_files_only=True)
    assert coders["layers.3"].k == 7
    assert hub.cached_snapshot("EleutherAI/not-cached") is None
