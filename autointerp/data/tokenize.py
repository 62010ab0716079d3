"""Tokenize documents, concatenate them and cut the stream into rows of a fixed length.

Separators follow the tokenizer: a tokenizer that adds BOS itself (Llama) gives each document its
BOS; one that adds nothing but has a BOS token (SmolLM2, GPT-2) gets BOS prepended to each
document; one without BOS gets EOS appended. The last partial row is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import numpy as np
import torch

logger = logging.getLogger(__name__)


def _with_separator(ids: list[int], bos: int | None, eos: int | None) -> list[int]:
    """One document's ids with the document separator added where the tokenizer did not."""
    if bos is not None:
        return ids if ids[:1] == [bos] else [bos, *ids]
    if eos is not None and ids[-1:] != [eos]:
        return [*ids, eos]
    return ids


def _batches(texts: Iterable[str | None], size: int) -> Iterator[list[str]]:
    """Non-empty texts in lists of `size`."""
    batch: list[str] = []
    for text in texts:
        if text and text.strip():
            batch.append(text)
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


def tokenize_rows(
    texts: Iterable[str | None],
    tokenizer,
    ctx_len: int,
    max_rows: int | None = None,
    docs_per_batch: int = 256,
) -> torch.Tensor:
    """Rows int32 [n_rows, ctx_len]; stops reading texts once `max_rows` rows are filled."""
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    need = None if max_rows is None else max_rows * ctx_len
    chunks: list[np.ndarray] = []
    total = 0
    for batch in _batches(texts, docs_per_batch):
        # verbose=False: long documents are fine here, they are cut into rows afterwards.
        encoded = tokenizer(batch, add_special_tokens=True, verbose=False)["input_ids"]
        for ids in encoded:
            chunks.append(np.asarray(_with_separator(list(ids), bos, eos), dtype=np.int32))
            total += len(chunks[-1])
        if need is not None and total >= need:
            break
    stream = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int32)
    n_rows = len(stream) // ctx_len if max_rows is None else min(max_rows, len(stream) // ctx_len)
    logger.info("tokenized %d tokens into %d rows of %d", len(stream), n_rows, ctx_len)
    return torch.from_numpy(stream[: n_rows * ctx_len].reshape(n_rows, ctx_len).copy())
