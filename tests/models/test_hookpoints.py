"""Hookpoint resolution and the early-stopping forward pass on a tiny random Llama."""

import pytest
import torch

from autointerp.models.hookpoints import (
    HookpointRunner,
    block_stack,
    hidden_size,
    resolve_hookpoints,
    valid_hookpoints,
)


def test_block_stack_and_names(tiny_llama):
    path, stack = block_stack(tiny_llama)
    assert path == "model.layers" and len(stack) == 4
    names = valid_hookpoints(tiny_llama)
    assert "layers.3" in names and "layers.2.mlp" in names and "layers.0.self_attn" in names
    assert hidden_size(tiny_llama) == 32


def test_resolve_maps_to_modules(tiny_llama):
    resolved = resolve_hookpoints(tiny_llama, ["layers.1", "layers.2.mlp", "model.layers.3"])
    assert resolved["layers.1"] is tiny_llama.model.layers[1]
    assert resolved["layers.2.mlp"] is tiny_llama.model.layers[2].mlp
    assert resolved["model.layers.3"] is tiny_llama.model.layers[3]


@pytest.mark.parametrize("bad", ["layers.4", "layers.1.mlpx", "blocks.1", "layers"])
def test_unknown_hookpoint_lists_valid_names(tiny_llama, bad):
    with pytest.raises(ValueError) as err:
        resolve_hookpoints(tiny_llama, ["layers.0", bad])
    message = str(err.value)
    assert "hookpoints" in message and repr(bad) in message
    assert "layers.0 ... layers.3" in message and "mlp" in message


def test_runner_matches_hidden_states_and_stops_early(tiny_llama):
    ids = torch.randint(0, 97, (3, 11), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = tiny_llama(input_ids=ids, output_hidden_states=True).hidden_states
    calls = {"layer3": 0, "norm": 0, "head": 0}
    hooks = [
        tiny_llama.model.layers[3].register_forward_hook(lambda *a: calls.__setitem__("layer3", calls["layer3"] + 1)),
        tiny_llama.model.norm.register_forward_hook(lambda *a: calls.__setitem__("norm", calls["norm"] + 1)),
        tiny_llama.lm_head.register_forward_hook(lambda *a: calls.__setitem__("head", calls["head"] + 1)),
    ]
    try:
        out = HookpointRunner(tiny_llama, ["layers.2", "layers.0"])(ids)
    finally:
        for hook in hooks:
            hook.remove()
    assert list(out) == ["layers.2", "layers.0"]
    # hidden_states[i + 1] is block i's output.
    torch.testing.assert_close(out["layers.0"], reference[1], rtol=0, atol=0)
    torch.testing.assert_close(out["layers.2"], reference[3], rtol=0, atol=0)
    assert out["layers.2"].shape == (3, 11, 32)
    assert calls == {"layer3": 0, "norm": 0, "head": 0}


def test_runner_reads_mlp_input_for_transcoders(tiny_llama):
    ids = torch.randint(0, 97, (2, 7), generator=torch.Generator().manual_seed(2))
    block = tiny_llama.model.layers[1]
    seen = {}
    handle = block.mlp.register_forward_hook(lambda m, args, out: seen.update(inp=args[0], out=out))
    try:
        with torch.no_grad():
            tiny_llama(input_ids=ids)
    finally:
        handle.remove()
    out = HookpointRunner(tiny_llama, ["layers.1.mlp", "layers.1"], read_input={"layers.1.mlp": True})(ids)
    torch.testing.assert_close(out["layers.1.mlp"], seen["inp"], rtol=0, atol=0)
    assert not torch.equal(seen["inp"], seen["out"])


def test_read_input_for_unknown_name(tiny_llama):
    with pytest.raises(ValueError, match="read_input"):
        HookpointRunner(tiny_llama, ["layers.1"], read_input={"layers.2": True})


def test_runner_on_a_gpt2_block_stack():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=32, n_embd=32, n_layer=3, n_head=4)).eval()
    assert block_stack(model)[0] == "transformer.h" and hidden_size(model) == 32
    ids = torch.randint(0, 50, (2, 9), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        reference = model(input_ids=ids, output_hidden_states=True).hidden_states
    out = HookpointRunner(model, ["layers.1", "layers.0.mlp"])(ids)
    torch.testing.assert_close(out["layers.1"], reference[2], rtol=0, atol=0)
    assert out["layers.0.mlp"].shape == (2, 9, 32)
