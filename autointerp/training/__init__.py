"""Training sparse coders: the TopK SAE, its activation feed, and the Lightning module for `fit`.

`SaeTrainingModule` is imported lazily, so `autointerp.training.topk_sae` needs no Lightning.
"""

from __future__ import annotations

__all__ = ["SaeTrainingModule", "TopKSae"]


def __getattr__(name: str):
    """Import the public classes on first use."""
    if name == "SaeTrainingModule":
        from autointerp.training.sae_module import SaeTrainingModule

        return SaeTrainingModule
    if name == "TopKSae":
        from autointerp.training.topk_sae import TopKSae

        return TopKSae
    raise AttributeError(name)
