"""Load and tokenization times of the embedded default, as ratios against a baseline in the same run.

    .venv/bin/python benchmarks/subject_and_data.py

1. Subject model: `load_subject("embedded:SmolLM2-135M-Instruct")` with a cold cache (transformers
   converts the GGUF; baseline) and with the converted cache warm.
2. Tokenizer: the GGUF conversion (cold) against the cached tokenizer.json (warm).
3. Data: `TokenizedTextDataModule.setup()` on the embedded corpus against a bare batched call of
   the same tokenizer over the same texts.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path


def timed(fn):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench_loads(model: str) -> None:
    """Cold versus warm subject model and tokenizer loads, in a fresh cache folder."""
    from autointerp.models import gguf_cache
    from autointerp.models.subject import embedded_gguf_path, load_subject

    gguf = embedded_gguf_path(model.split(":", 1)[1])
    with tempfile.TemporaryDirectory() as cache:
        os.environ["AUTOINTERP_CACHE"] = cache
        cold_tok, _ = timed(lambda: gguf_cache.load_gguf_tokenizer(gguf))
        warm_tok, _ = timed(lambda: gguf_cache.load_gguf_tokenizer(gguf))
        cold, _ = timed(lambda: load_subject(model))
        warm, _ = timed(lambda: load_subject(model))
    print(f"tokenizer load: cold (GGUF conversion) {cold_tok:.1f} s, warm {warm_tok:.2f} s, "
          f"speed-up {cold_tok / warm_tok:.0f}x")
    print(f"load_subject:   cold (GGUF dequantization) {cold:.1f} s, warm {warm:.2f} s, speed-up {cold / warm:.0f}x")


def bench_tokenize(model: str) -> None:
    """DataModule setup over the whole embedded corpus against a bare batched tokenizer call."""
    from autointerp.data import TokenizedTextDataModule
    from autointerp.data.embedded import default_cache_dir, write_embedded_corpus
    from autointerp.models.subject import load_tokenizer

    path = write_embedded_corpus(default_cache_dir())
    texts = [json.loads(line)["text"] for line in Path(path).read_text(encoding="utf-8").splitlines()]
    tokenizer = load_tokenizer(model)
    bare, encoded = timed(lambda: tokenizer(texts)["input_ids"])
    n = sum(len(ids) for ids in encoded)
    dm = TokenizedTextDataModule(model, dataset_repo="embedded:gensim", dataset_split="train", n_tokens=10**9)
    ours, _ = timed(dm.setup)
    print(f"tokenize {len(texts)} documents, {n} tokens: bare tokenizer {n / bare:,.0f} tokens/s, "
          f"DataModule.setup {n / ours:,.0f} tokens/s ({bare / ours:.2f}x the bare call; includes "
          f"opening the dataset), {dm.n_rows} rows of {dm.cache_ctx_len}")


if __name__ == "__main__":
    MODEL = "embedded:SmolLM2-135M-Instruct"
    bench_tokenize(MODEL)
    bench_loads(MODEL)
