"""GPU memory checks before loading: does this device have room for the weights, on every rank?

A rank placed on a GPU that another process holds (a vLLM server) would run out of memory and
leave the other ranks waiting; `memory_problem` says so before anything moves to the GPU, and
`gather_ranks` lets every rank see every rank's answer so they all stop together.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

GIB = 2**30
MEMORY_HEADROOM = 1.25
"""Free GPU memory asked for beyond the weights (activations of a batch, the CUDA context)."""


def check_free_memory(device: torch.device, needed_bytes: int, free_total: tuple[int, int] | None = None) -> None:
    """Raise before loading when `device` lacks the free memory for `needed_bytes` of weights plus headroom."""
    problem = memory_problem(device, needed_bytes, free_total)
    if problem:
        raise ValueError(problem)


def memory_problem(device: torch.device, needed_bytes: int, free_total: tuple[int, int] | None = None) -> str | None:
    """The message when `device` lacks the free memory for `needed_bytes` of weights plus headroom, else None.

    `free_total` (free, total bytes) defaults to what the driver reports; CPUs are not checked."""
    if device.type != "cuda" and free_total is None:
        return None
    free, total = free_total if free_total is not None else torch.cuda.mem_get_info(device)
    wanted = int(needed_bytes * MEMORY_HEADROOM) + GIB
    if free < wanted:
        return (
            f"trainer.devices: {device} has {free / GIB:.1f} GiB free of {total / GIB:.1f} GiB, but the subject "
            f"model and coders need about {wanted / GIB:.1f} GiB; another process (e.g. a vLLM server) holds the "
            "rest. Give predict only the GPUs nothing else uses (trainer.devices: [1, 2, 3], or "
            "CUDA_VISIBLE_DEVICES), or a smaller dtype"
        )
    return None


def gather_ranks(item: Any, every_rank: bool) -> list[Any]:
    """Every rank's `item` when `every_rank` and a process group is up, else [item]."""
    import torch.distributed as dist

    if not (every_rank and dist.is_available() and dist.is_initialized()):
        return [item]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, item)
    return out


def nbytes(*modules: nn.Module) -> int:
    """Bytes of every parameter and buffer of `modules`."""
    return sum(t.numel() * t.element_size() for m in modules for t in (*m.parameters(), *m.buffers()))
