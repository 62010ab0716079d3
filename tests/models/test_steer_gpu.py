"""Steering on CUDA: the subject model generates there, batched, and alpha = 0 still changes nothing."""

from __future__ import annotations

import pytest
import torch

from autointerp.models.steer import pick_device


def test_auto_picks_cuda_only_when_one_is_visible():
    assert pick_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device("cpu") == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batched_generation_on_cuda():
    from autointerp.models.steer import load_steerer
    from autointerp.models.subject import load_tokenizer

    steerer = load_steerer("embedded:SmolLM2-135M-Instruct", "assets/smollm2-135m-instruct-topk", ["layers.15"],
                           device="auto", dtype="bfloat16")
    assert steerer.device.type == "cuda" and steerer.decoders["layers.15"].device.type == "cuda"
    ids = load_tokenizer("embedded:SmolLM2-135M-Instruct")("The river runs through the old town, past the market")["input_ids"]
    prompts = [ids[i : i + 8] for i in range(4)]
    unsteered = steerer.generate(prompts, 8, batch_size=4)
    zero = steerer.deltas("layers.15", 3, [0.0] * 4)
    assert steerer.generate(prompts, 8, "layers.15", zero, batch_size=4) == unsteered
    strong = steerer.deltas("layers.15", 3, [200.0] * 4)
    assert steerer.generate(prompts, 8, "layers.15", strong, batch_size=4) != unsteered
