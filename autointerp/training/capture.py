"""Capture one hookpoint's input and output from a frozen subject model, stopping right after it."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from autointerp.models.hookpoints import resolve_hookpoints


class _Stop(Exception):
    """Raised from the hook once the hookpoint ran, so later blocks and the LM head never run."""


def _tensor(value) -> Tensor:
    """A module's input or output: a tensor, or the first element of a (nested) tuple."""
    while isinstance(value, (tuple, list)):
        value = value[0]
    return value


class HookpointCapture:
    """`capture(input_ids)` -> (input, output) of the hookpoint's module, each [B, T, d], no grad."""

    def __init__(self, model: nn.Module, hookpoint: str) -> None:
        self.model = model
        self.module = resolve_hookpoints(model, [hookpoint])[hookpoint]

    def __call__(self, input_ids: Tensor) -> tuple[Tensor, Tensor]:
        """Run the model on `input_ids` [B, T] until the hookpoint's module has produced its output."""
        captured: dict[str, Tensor] = {}

        def hook(module, args, kwargs, output):
            captured["input"] = _tensor(args) if args else _tensor(kwargs.get("hidden_states"))
            captured["output"] = _tensor(output)
            raise _Stop

        handle = self.module.register_forward_hook(hook, with_kwargs=True)
        try:
            with torch.no_grad():
                self.model(input_ids=input_ids, use_cache=False)
        except _Stop:
            pass
        finally:
            handle.remove()
        if "output" not in captured:
            raise RuntimeError("hookpoint: the forward pass never reached the hookpoint's module")
        return captured["input"], captured["output"]
