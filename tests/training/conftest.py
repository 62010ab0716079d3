"""Fixtures for the training tests: a tiny random Llama saved as a folder load_subject can read."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    """A 2-layer Llama (hidden 32, vocab 128) with random weights and a word-level tokenizer."""
    from tokenizers import Tokenizer, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    LlamaForCausalLM(config).save_pretrained(folder)
    vocab = {f"w{i}": i for i in range(128)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="w0"))
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="w0").save_pretrained(folder)
    return str(folder)


class RowDataset(torch.utils.data.Dataset):
    """Rows of token ids shaped like the DataModule's batches: {"input_ids": [T], "row": int}."""

    def __init__(self, n_rows: int, ctx_len: int, vocab: int = 128, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.tokens = torch.randint(0, vocab, (n_rows, ctx_len), generator=generator)

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> dict:
        return {"input_ids": self.tokens[index], "row": index}


@pytest.fixture
def row_loader():
    """A shuffling DataLoader over random rows."""

    def make(n_rows: int = 32, ctx_len: int = 16, batch_size: int = 4, seed: int = 0):
        dataset = RowDataset(n_rows, ctx_len, seed=seed)
        generator = torch.Generator().manual_seed(seed)
        return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)

    return make
