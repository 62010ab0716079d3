"""Tiny random models shared by the model tests."""

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_llama():
    """A 4-layer Llama with hidden size 32 and random weights, in eval mode."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )
    return LlamaForCausalLM(config).eval()
