"""Sparse coders (SAEs and transcoders): the base class, activations, and loaders for
sparsify, SAELens and Gemma Scope files."""

from autointerp.models.sparse_coders.base import JumpReluCoder, ReluCoder, SparseCoder, TopKCoder
from autointerp.models.sparse_coders.loading import (
    available_hookpoints,
    check_compatible,
    load_sparse_coder,
    load_sparse_coders,
    resolve_sparse_model,
)

__all__ = [
    "JumpReluCoder",
    "ReluCoder",
    "SparseCoder",
    "TopKCoder",
    "available_hookpoints",
    "check_compatible",
    "load_sparse_coder",
    "load_sparse_coders",
    "resolve_sparse_model",
]
