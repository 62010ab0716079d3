"""`encode_on_device` moves activations to each coder's device, masks BOS inside the one compaction,
and dense coders encode wide widths in chunks; `HostCopy` gives global token indices."""

import numpy as np
import pytest
import torch

from autointerp.models import encode as encode_module
from autointerp.models.encode import HostCopy, encode_batch, encode_on_device
from autointerp.models.sparse_coders import JumpReluCoder, TopKCoder
from autointerp.models.sparse_coders import base as base_module
from autointerp.models.sparse_coders.base import ReluCoder

D_IN, D_SAE = 8, 24


def _coder(cls=TopKCoder, **kwargs):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(D_SAE, D_IN, generator=g)
    return cls(w, torch.randn(D_SAE, generator=g) * 0.1, torch.randn(D_SAE, D_IN, generator=g), torch.zeros(D_IN), **kwargs)


class Reached(Exception):
    pass


def test_activations_go_to_the_coders_device_and_dtype(monkeypatch):
    # The coder lives on `meta` (standing in for cuda:1 of a device_map model); the activations come from the CPU.
    coder = _coder(k=4).to(device="meta", dtype=torch.bfloat16)
    seen = {}

    def encode(x, token_mask=None):
        seen.update(device=x.device, dtype=x.dtype, mask_device=None if token_mask is None else token_mask.device)
        raise Reached

    monkeypatch.setattr(coder, "encode", encode)
    acts = {"layers.1": torch.randn(2, 3, D_IN)}
    with pytest.raises(Reached):
        encode_on_device(acts, {"layers.1": coder}, torch.ones(2, 3, dtype=torch.long), bos_token_id=1)
    assert seen == {"device": torch.device("meta"), "dtype": torch.bfloat16, "mask_device": torch.device("meta")}


def test_bos_positions_give_no_nonzeros_and_the_rest_match_the_plain_encode():
    coder = _coder(k=5)
    input_ids = torch.tensor([[1, 5, 6, 1], [7, 1, 8, 9]])
    acts = torch.randn(2, 4, D_IN)
    pos, lat, val = encode_on_device({"h": acts}, {"h": coder}, input_ids, bos_token_id=1)["h"]
    token, latent, value = coder.encode(acts.reshape(8, D_IN))  # independent: no mask, filtered by hand
    keep = input_ids.reshape(-1)[token] != 1
    assert sorted(zip(pos.tolist(), lat.tolist())) == sorted(zip(token[keep].tolist(), latent[keep].tolist()))
    assert (input_ids.reshape(-1)[pos.long()] != 1).all() and len(val) == int(keep.sum())


def test_host_copy_gives_global_token_indices_and_widens_when_needed():
    coder = _coder(k=3)
    input_ids = torch.zeros(2, 4, dtype=torch.long)
    latents = encode_on_device({"h": torch.randn(2, 4, D_IN)}, {"h": coder}, input_ids)
    rows, tokens, host = HostCopy(torch.tensor([10, 3]), input_ids, latents).numpy()
    position = latents["h"][0].numpy()
    want = np.array([10, 3])[position // 4] * 4 + position % 4
    np.testing.assert_array_equal(host["h"][0], want)
    assert host["h"][0].dtype == np.int32 and rows.tolist() == [10, 3] and tokens.shape == (2, 4)
    _, _, wide = HostCopy(torch.tensor([2**30, 0]), input_ids, latents).numpy()
    assert wide["h"][0].dtype == np.int64 and int(wide["h"][0].max()) >= 2**32
    old = encode_batch({"h": torch.randn(2, 4, D_IN)}, {"h": coder}, torch.tensor([10, 3]), input_ids)
    assert old["h"][0].dtype == old["h"][1].dtype == torch.int64  # the public contract stays


@pytest.mark.parametrize("cls,kwargs", [(ReluCoder, {}), (JumpReluCoder, {"threshold": torch.full((D_SAE,), 0.2)})])
def test_dense_coders_encode_in_chunks_with_the_same_result(monkeypatch, cls, kwargs):
    coder = _coder(cls, **kwargs)
    x = torch.randn(50, D_IN)
    whole = coder.dense(x)
    sizes = []
    original = coder.pre_acts
    monkeypatch.setattr(coder, "pre_acts", lambda x: sizes.append(x.shape[0]) or original(x))
    monkeypatch.setattr(base_module, "DENSE_CHUNK_ELEMENTS", 7 * D_SAE)  # 7 tokens of pre-activations at a time
    torch.testing.assert_close(coder.dense(x), whole, rtol=1e-5, atol=1e-5)  # a GEMM of 7 rows rounds differently
    assert max(sizes) == 7 and sum(sizes) == 50


def test_a_coder_with_the_plain_encode_contract_still_works():
    class Plain:
        d_sae = 4

        def encode(self, x):
            n = x.shape[0]
            return torch.arange(n), torch.zeros(n, dtype=torch.long), torch.ones(n)

    input_ids = torch.tensor([[1, 2, 3]])
    pos, _, _ = encode_on_device({"h": torch.randn(1, 3, D_IN)}, {"h": Plain()}, input_ids, bos_token_id=1)["h"]
    assert pos.tolist() == [1, 2] and encode_module.coder_placement(Plain()) == (None, None)
