"""Collective helpers that also work without torch.distributed (single process)."""

from __future__ import annotations

from typing import Any


def _initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order (a one-element list without torch.distributed)."""
    import torch.distributed as dist

    if not _initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out
