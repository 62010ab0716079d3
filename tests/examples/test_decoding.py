"""Excerpts read as the text did, also for SentencePiece tokenizers (Llama-2, Mistral), whose
decoder drops a word's leading space when the token is decoded alone. The tokenizer is trained
here, offline, on the embedded corpus's news text (BPE with the Metaspace `▁` and byte fallback,
Llama-2's layout); the records come from the real RecordBuilder on a cache of that text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from examples_cache import write_cache

from autointerp.examples import ExamplesConfig, RecordBuilder
from autointerp.examples.decoding import TokenDecoder
from autointerp.latents import CacheReader
from autointerp.records import Latent

CTX, N_ROWS, HP = 64, 80, "layers.0"


@pytest.fixture(scope="module")
def sentencepiece():
    """A Llama-2-style tokenizer (▁ word prefix, byte fallback) trained on the news corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from autointerp.data.embedded import gensim_test_data, news_articles

    texts = [d["text"] for d in news_articles(gensim_test_data())]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Sequence([decoders.Metaspace(replacement="▁", prepend_scheme="first"),
                                     decoders.ByteFallback(), decoders.Fuse()])
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=3000, special_tokens=["<unk>", "<s>", "</s>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    return fast, texts


def test_per_token_decoding_alone_loses_the_spaces(sentencepiece):
    """The defect this guards against: decoded alone, `▁the` is 'the'."""
    tokenizer, _ = sentencepiece
    ids = tokenizer("The police said", add_special_tokens=False)["input_ids"]
    assert "".join(tokenizer.decode([i]) for i in ids) == "Thepolicesaid"
    assert "".join(TokenDecoder(tokenizer)(i) for i in ids) == " The police said"


def test_record_excerpts_read_as_the_text_did(sentencepiece, tmp_path):
    tokenizer, texts = sentencepiece
    ids = np.concatenate([tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts[:80]])
    tokens = ids[: N_ROWS * CTX].reshape(N_ROWS, CTX).astype(np.int64)
    the = tokenizer.convert_tokens_to_ids("▁the")
    where = np.flatnonzero(tokens.reshape(-1) == the)  # latent 0 fires on "▁the"
    nonzeros = (where, np.zeros(len(where), np.int64), np.ones(len(where), np.float32))
    reader = CacheReader(write_cache(tmp_path / "latents", tokens, {HP: nonzeros}, {HP: 1}))
    config = ExamplesConfig(min_examples=20, n_examples_train=10, n_examples_test=10, n_non_activating=10)
    record = RecordBuilder(reader, config, tokenizer).build(Latent(HP, 0))
    assert record is not None
    checked = 0
    for ex in record.train + record.test + record.negatives:
        text = tokenizer.decode(ex.tokens.tolist())  # the window decoded as a whole
        joined = "".join(ex.str_tokens)
        if "\ufffd" in joined:  # a character split over byte tokens reads only as a whole
            continue
        assert joined.lstrip(" ") == text.lstrip(" "), (joined, text)
        assert len(joined.split()) > 8  # words, not one run-together string
        checked += 1
    assert checked >= 25
