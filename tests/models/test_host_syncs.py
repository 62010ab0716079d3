"""The predict hot path waits for the device once per hookpoint per batch: the one compaction.

A CPU has no device to wait for, so the test counts the calls that make a GPU wait: operations whose
result size or value the host must read (`nonzero`, boolean-mask indexing, `item`, `tolist`,
`bool(tensor)`, `.cpu()`, `.numpy()`, ...), called from our code (the subject model's own checks,
inside transformers, are not ours to change). Host copies are non-blocking (`HostCopy`) and not
counted here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from autointerp.models.cache_module import LatentCacheModule
from autointerp.models.sparse_coders.base import JumpReluCoder, ReluCoder, TopKCoder

REPO = Path(__file__).resolve().parents[2]
D_IN, D_SAE = 32, 64
WAITS = {torch.Tensor.nonzero, torch.nonzero, torch.argwhere, torch.Tensor.argwhere, torch.Tensor.item,
         torch.Tensor.tolist, torch.Tensor.__bool__, torch.Tensor.__int__, torch.Tensor.__float__,
         torch.Tensor.__index__, torch.Tensor.masked_select, torch.masked_select, torch.Tensor.cpu,
         torch.Tensor.numpy, torch.unique, torch.Tensor.unique, torch.Tensor.nonzero_static}
"""Torch calls that block the host until the device has computed their input."""


class HostWaits(TorchFunctionMode):
    """Counts the calls that would make the host wait for a GPU, made from this repository's code."""

    def __init__(self, roots: tuple[Path, ...] = (REPO / "autointerp", REPO / "callbacks")) -> None:
        super().__init__()
        self.roots = roots
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if (func in WAITS or _bool_index(func, args)) and _ours(self.roots):
            self.calls.append(getattr(func, "__name__", str(func)))
        return func(*args, **kwargs)


def _bool_index(func, args) -> bool:
    """`t[mask]` or `t[mask] = v` with a boolean tensor: the result's size is read on the host."""
    if func not in (torch.Tensor.__getitem__, torch.Tensor.__setitem__):
        return False
    index = args[1] if isinstance(args[1], tuple) else (args[1],)
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)


def _ours(roots: tuple[Path, ...]) -> bool:
    """True when the nearest caller outside torch is a file under `roots` (not transformers, not torch)."""
    frame = sys._getframe(2)
    while frame is not None and "/torch/" in frame.f_code.co_filename:
        frame = frame.f_back
    return frame is not None and frame.f_code.co_filename.startswith(tuple(str(r) for r in roots))


class PlainCoder(nn.Module):
    """A user's coder with only the plain `encode(x) -> (token, latent, value)` contract (ReLU nonzeros)."""

    transcoder = False

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(D_SAE, D_IN), requires_grad=False)
        self.d_sae = D_SAE

    def encode(self, x: torch.Tensor):
        acts = (x @ self.weight.T).relu()
        token, latent = acts.nonzero(as_tuple=True)
        return token, latent, acts[token, latent]


def _coders() -> dict[str, nn.Module]:
    torch.manual_seed(0)

    def parts():
        return torch.randn(D_SAE, D_IN), torch.zeros(D_SAE), torch.randn(D_SAE, D_IN), torch.zeros(D_IN)

    return {"layers.0": TopKCoder(*parts(), k=4), "layers.1": ReluCoder(*parts()),
            "layers.2": JumpReluCoder(*parts(), threshold=torch.full((D_SAE,), 0.5)), "layers.3": PlainCoder()}


@pytest.mark.parametrize("filter_bos", [False, True])
def test_one_host_wait_per_hookpoint_per_batch(tiny_llama, filter_bos):
    from callbacks.latent_statistics import LatentStatistics

    coders = _coders()
    module = LatentCacheModule("tiny", "coders", list(coders), filter_bos=filter_bos)
    module.attach(tiny_llama, coders, bos_token_id=1)
    stats = LatentStatistics(log_every_n_batches=10**6)
    stats.on_predict_start(None, module)
    input_ids = torch.randint(2, 97, (3, 16), generator=torch.Generator().manual_seed(1))
    input_ids[:, 0] = 1
    with HostWaits(roots=(REPO / "autointerp", REPO / "callbacks", Path(__file__))) as waits:
        out = module.predict_step({"input_ids": input_ids, "row": torch.tensor([4, 0, 7])})
        stats.on_predict_batch_end(_Trainer(), module, out, None, 0)
    # one compaction per hookpoint; a plain-contract coder compacts inside its own encode(x), so
    # dropping BOS positions from its output is a second one (our coders take the mask into theirs)
    assert waits.calls == ["nonzero"] * len(coders) + (["nonzero"] if filter_bos else [])
    for hp, (position, _, value) in out["latents"].items():
        assert len(value) > 0 and (value > 0).all(), hp
        assert not filter_bos or not (position % 16 == 0).any(), hp  # BOS positions dropped in the same compaction


def test_the_counter_sees_a_boolean_mask():
    """The count is a real check: the three-mask compaction it replaced waits three times."""
    values = torch.rand(4, 3)
    with HostWaits(roots=(Path(__file__),)) as waits:
        _mask_compaction(values)
    assert waits.calls == ["__getitem__"] * 3


def test_topk_compaction_equals_mask_indexing():
    coder = _coders()["layers.0"]
    x = torch.randn(50, D_IN, generator=torch.Generator().manual_seed(2))
    mask = torch.rand(50, generator=torch.Generator().manual_seed(3)) > 0.2
    values, latents = coder.pre_acts(x).topk(coder.k, dim=-1, sorted=False)
    keep = (values > 0) & mask[:, None]
    token = torch.arange(50).unsqueeze(1).expand_as(latents)
    for got, want in zip(coder.encode(x, mask), (token[keep], latents[keep], values[keep])):
        assert got.dtype == want.dtype and torch.equal(got, want)


def _mask_compaction(values: torch.Tensor):
    keep = values > 0.5
    token = torch.arange(values.shape[0]).unsqueeze(1).expand_as(values)
    return token[keep], values[keep], values[keep]


class _Trainer:
    is_global_zero = False
