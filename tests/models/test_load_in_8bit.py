"""`load_in_8bit`: the flat flag lands on the cache module, which refuses it clearly before loading anything without CUDA."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from autointerp.cli.flat import build_config, parser
from autointerp.models.cache_module import LatentCacheModule
from autointerp.models.subject import check_load_in_8bit, load_subject, quantization_kwargs

BASE = ["/no/such/model", "/no/such/sae"]


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_the_flag_lands_on_the_module():
    on = build_config(parser().parse_args([*BASE, "--load_in_8bit"]), available_gpus=1)
    off = build_config(parser().parse_args(BASE), available_gpus=1)
    assert on["model"]["init_args"]["load_in_8bit"] is True
    assert off["model"]["init_args"]["load_in_8bit"] is False


def test_cli_config_reaches_the_module_and_fails_before_loading(no_cuda, tmp_path, monkeypatch):
    """Through the real LightningCLI parser: the error names load_in_8bit (the model path does not
    exist, so any loading attempt would fail differently)."""
    from autointerp.cli.predict import AutoInterpCLI, use_attribute_docstrings

    monkeypatch.chdir(tmp_path)
    config = build_config(parser().parse_args([*BASE, "--load_in_8bit", "--hookpoints", "layers.1"]), available_gpus=1)
    config["trainer"] = {"accelerator": "cpu", "devices": 1}
    use_attribute_docstrings()
    with pytest.raises(ValueError, match="load_in_8bit needs a CUDA device"):
        AutoInterpCLI(args=["--config", json.dumps(config)], run=False)


def test_module_and_loader_refuse_on_cpu(no_cuda):
    with pytest.raises(ValueError, match="load_in_8bit needs a CUDA device"):
        LatentCacheModule("/no/such/model", "/no/such/sae", ["layers.1"], load_in_8bit=True)
    with pytest.raises(ValueError, match="load_in_8bit needs a CUDA device"):
        load_subject("/no/such/model", load_in_8bit=True)
    assert LatentCacheModule("/no/such/model", "/no/such/sae", ["layers.1"]).load_in_8bit is False


def test_missing_bitsandbytes_is_named(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real(name, *a))
    with pytest.raises(ValueError, match=r"load_in_8bit needs the bitsandbytes package"):
        check_load_in_8bit()


def test_quantization_kwargs():
    assert quantization_kwargs(False, "cuda:0") == {}
    kwargs = quantization_kwargs(True, "cuda:1")
    assert kwargs["device_map"] == {"": "cuda:1"}
    assert kwargs["quantization_config"].load_in_8bit is True and not kwargs["quantization_config"].load_in_4bit
