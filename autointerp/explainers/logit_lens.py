"""The logit lens for output-side explanations: the tokens a latent's decoder direction promotes."""

from __future__ import annotations

from typing import Any

import torch


def top_output_tokens(decoder_row: torch.Tensor, unembedding: torch.Tensor, tokenizer: Any,
                      k: int = 10) -> list[str]:
    """The `k` tokens whose logits the latent's decoder row raises most, strongest first.

    Args:
        decoder_row: float [d] the latent's decoder direction in the residual stream.
        unembedding: float [vocab, d] the model's unembedding (lm_head) matrix.
        tokenizer: decodes token ids to strings.
        k: how many tokens to return.
    """
    if decoder_row.ndim != 1:
        raise ValueError(f"decoder_row must be 1-D [d], got shape {tuple(decoder_row.shape)}")
    if unembedding.ndim != 2 or unembedding.shape[1] != decoder_row.shape[0]:
        raise ValueError(f"unembedding must be [vocab, {decoder_row.shape[0]}], "
                         f"got {tuple(unembedding.shape)}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    logits = unembedding.float() @ decoder_row.float()  # [vocab]
    ids = torch.topk(logits, min(k, logits.numel())).indices.tolist()
    return [tokenizer.decode([i]) for i in ids]
