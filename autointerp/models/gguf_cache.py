"""Convert a GGUF file's tokenizer and weights once and keep them under the user cache folder.

transformers converts a GGUF vocabulary and dequantizes its weights on every load (tens of seconds
on 2 busy cores for SmolLM2-135M). The converted tokenizer (`tokenizer.json`) and the dequantized
float32 weights (`model.safetensors`, 0.5 GB for 135M parameters) load in a second or two. The
cache key is the GGUF's name, size and mtime; writes go to a temp folder renamed into place.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)


def user_cache_dir() -> Path:
    """autointerp's cache folder: `$AUTOINTERP_CACHE`, else `~/.cache/autointerp`."""
    return Path(os.environ.get("AUTOINTERP_CACHE") or Path.home() / ".cache" / "autointerp")


def cache_dir_for(gguf: Path, kind: str) -> Path:
    """Cache folder of one GGUF file's converted `kind` ("tokenizers" or "models")."""
    stat = gguf.stat()
    return user_cache_dir() / kind / f"{gguf.stem}-{stat.st_size}-{stat.st_mtime_ns}"


def _store(cached: Path, save: Callable[[Path], None]) -> None:
    """Run `save(tmp_dir)` and rename tmp_dir to `cached`; a failure only logs (the cache is optional)."""
    tmp = None
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{cached.name}.", dir=cached.parent))
        save(tmp)
        os.replace(tmp, cached)  # atomic; a concurrent writer that won leaves ours to be removed
    except OSError as err:
        logger.info("did not cache %s: %s", cached, err)
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def load_gguf_tokenizer(gguf: Path):
    """The GGUF's tokenizer, converted once."""
    from transformers import AutoTokenizer

    cached = cache_dir_for(gguf, "tokenizers")
    if (cached / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(str(cached))
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    _store(cached, lambda tmp: tokenizer.save_pretrained(str(tmp)))
    return tokenizer


def _save_model(model, folder: Path) -> None:
    """config + generation config + float32 weights (tied tensors stored once)."""
    import copy

    from safetensors.torch import save_model

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the saved weights are plain floats, no longer GGUF-quantized
    config.save_pretrained(str(folder))
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(str(folder))
    save_model(model, str(folder / "model.safetensors"), metadata={"format": "pt"})


def load_gguf_model(gguf: Path, dtype, **load_kwargs):
    """The GGUF's causal LM, dequantized once to float32, then cast to `dtype`.

    `load_kwargs` (e.g. a `quantization_config`) go to `from_pretrained` of the cached float32 weights."""
    import torch
    from transformers import AutoModelForCausalLM

    cached = cache_dir_for(gguf, "models")
    if (cached / "model.safetensors").is_file():
        return AutoModelForCausalLM.from_pretrained(str(cached), dtype=dtype, **load_kwargs)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    _store(cached, lambda tmp: _save_model(model, tmp))
    if load_kwargs:  # quantizing loads go through the cached float32 weights
        del model
        if not (cached / "model.safetensors").is_file():
            raise ValueError(f"model: could not cache the float32 weights of {gguf} under {cached} to quantize them")
        return AutoModelForCausalLM.from_pretrained(str(cached), dtype=dtype, **load_kwargs)
    return model.to(dtype)
