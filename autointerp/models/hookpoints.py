"""Hookpoint names, their modules, and a forward pass that stops after the deepest hookpoint.

A hookpoint name is relative to the model's block stack: `layers.15` is block 15's output,
`layers.5.mlp` and `layers.3.self_attn` are submodules of a block. The stack is found generically
(the longest `nn.ModuleList` of the model: `model.model.layers` for Llama-likes, `transformer.h`
for GPT-2). A full module path as listed by `model.named_modules()` is accepted too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

STACK_PREFIX = "layers"


def block_stack(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """`(path, stack)`: the longest ModuleList in the model (the first one found on a tie)."""
    best: tuple[str, nn.ModuleList] | None = None
    for path, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and (best is None or len(module) > len(best[1])):
            best = (path, module)
    if best is None or len(best[1]) == 0:
        raise ValueError(f"hookpoints: found no block stack (nn.ModuleList) in {type(model).__name__}")
    return best


def valid_hookpoints(model: nn.Module) -> list[str]:
    """Every hookpoint name of the model: each block and each of its direct children."""
    _, stack = block_stack(model)
    names = []
    for i, block in enumerate(stack):
        names.append(f"{STACK_PREFIX}.{i}")
        names.extend(f"{STACK_PREFIX}.{i}.{child}" for child, _ in block.named_children())
    return names


def _describe_valid(model: nn.Module) -> str:
    """A short summary of the valid names for error messages."""
    _, stack = block_stack(model)
    children = [name for name, _ in stack[0].named_children()]
    return (
        f"valid names are {STACK_PREFIX}.0 ... {STACK_PREFIX}.{len(stack) - 1}, optionally followed "
        f"by a block's submodule ({', '.join(children)}), e.g. {STACK_PREFIX}.{len(stack) // 2}.mlp"
    )


def _lookup(model: nn.Module, name: str) -> nn.Module | None:
    """The module for one name, or None when it does not exist."""
    stack_path, stack = block_stack(model)
    parts = name.split(".")
    if parts[0] == STACK_PREFIX and len(parts) >= 2 and parts[1].isdigit():
        index = int(parts[1])
        if index >= len(stack):
            return None
        module: nn.Module | None = stack[index]
        for part in parts[2:]:
            module = module._modules.get(part) if module is not None else None
        return module
    return dict(model.named_modules()).get(name) if name else None


def resolve_hookpoints(model: nn.Module, names: Iterable[str]) -> dict[str, nn.Module]:
    """Map each hookpoint name to its module; raises naming every unknown one and the valid names."""
    names = list(names)
    if not names:
        raise ValueError("hookpoints: no hookpoint given; " + _describe_valid(model))
    resolved, unknown = {}, []
    for name in names:
        module = _lookup(model, name)
        if module is None:
            unknown.append(name)
        else:
            resolved[name] = module
    if unknown:
        raise ValueError(f"hookpoints: unknown hookpoint(s) {unknown}; " + _describe_valid(model))
    return resolved


def hidden_size(model: nn.Module) -> int:
    """Width of the residual stream (`config.hidden_size`, else the input embedding width)."""
    config = getattr(model, "config", None)
    for key in ("hidden_size", "n_embd", "d_model"):
        if config is not None and isinstance(getattr(config, key, None), int):
            return getattr(config, key)
    return model.get_input_embeddings().embedding_dim


class _StopForward(Exception):
    """Raised from a hook once every hookpoint is captured, to skip the rest of the model."""


def _first_tensor(value) -> torch.Tensor:
    """A module's output or input: a tensor, or the first element of a tuple (transformers 5.x mixes both)."""
    while isinstance(value, (tuple, list)):
        value = value[0]
    return value


class HookpointRunner:
    """Run the model once and capture each hookpoint's output (or input, for transcoders).

    The forward pass stops as soon as every hookpoint is captured: no later blocks, no final norm,
    no LM head.
    """

    def __init__(
        self,
        model: nn.Module,
        hookpoints: Iterable[str],
        read_input: Mapping[str, bool] | None = None,
    ) -> None:
        """`read_input[name]` True captures the module's input instead of its output."""
        self.model = model
        self.modules = resolve_hookpoints(model, hookpoints)
        read_input = dict(read_input or {})
        extra = sorted(set(read_input) - set(self.modules))
        if extra:
            raise ValueError(f"read_input: names {extra} are not among the hookpoints {list(self.modules)}")
        self.read_input = {name: bool(read_input.get(name, False)) for name in self.modules}

    def _hook(self, name: str, captured: dict[str, torch.Tensor]):
        """A forward (pre-)hook that stores one hookpoint's tensor and stops when all are in."""

        def store(value) -> None:
            captured[name] = _first_tensor(value)
            if len(captured) == len(self.modules):
                raise _StopForward

        if self.read_input[name]:
            def pre_hook(module, args, kwargs):
                store(args if args else kwargs.get("hidden_states", next(iter(kwargs.values()), None)))
            return pre_hook

        def hook(module, args, output):
            store(output)
        return hook

    def __call__(self, input_ids: torch.Tensor, **forward_kwargs) -> dict[str, torch.Tensor]:
        """`input_ids` [B, T] -> {hookpoint: Tensor[B, T, d]}, without gradients."""
        captured: dict[str, torch.Tensor] = {}
        handles = []
        for name, module in self.modules.items():
            hook = self._hook(name, captured)
            if self.read_input[name]:
                handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
            else:
                handles.append(module.register_forward_hook(hook))
        try:
            with torch.no_grad():
                self.model(input_ids=input_ids, use_cache=False, **forward_kwargs)
        except _StopForward:
            pass
        finally:
            for handle in handles:
                handle.remove()
        missing = sorted(set(self.modules) - set(captured))
        if missing:
            raise RuntimeError(f"hookpoints {missing} were never reached by the forward pass")
        return {name: captured[name] for name in self.modules}


def _block_index(stack: nn.ModuleList, module: nn.Module) -> int | None:
    """Index of the block of `stack` that is or contains `module`; None when outside the stack."""
    for index, block in enumerate(stack):
        if module is block or any(module is m for m in block.modules()):
            return index
    return None


def drop_after_hookpoints(model: nn.Module, hookpoints: Iterable[str]) -> int:
    """Remove the blocks after the deepest hookpoint and the (untied) LM head; returns the blocks kept.

    `HookpointRunner` stops there, so these weights would only take GPU memory (half an 8B model
    for a middle layer, plus a 0.5B-parameter LM head). Nothing happens when a hookpoint lies
    outside the block stack."""
    _, stack = block_stack(model)
    indices = [_block_index(stack, m) for m in resolve_hookpoints(model, hookpoints).values()]
    if any(i is None for i in indices):
        return len(stack)
    keep = max(indices) + 1
    del stack[keep:]
    if not hasattr(model, "get_output_embeddings"):
        return keep
    head, embedding = model.get_output_embeddings(), model.get_input_embeddings()
    weight = getattr(head, "weight", None)
    if isinstance(weight, nn.Parameter) and weight is not getattr(embedding, "weight", None):
        head.weight = nn.Parameter(weight.new_empty(0), requires_grad=False)  # never applied
    return keep
