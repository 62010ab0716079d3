"""Surprisal (a tiny random causal LM) and embedding (the shipped MiniLM) against direct computations."""

import asyncio

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from interp_fixtures import make_record
from autointerp.records import Explanation
from autointerp.scorers import EmbeddingScorer, SurprisalScorer
from autointerp.scorers.surprisal import BASELINE_PREFIX, EXPLAINED_PREFIX


class ByteTokenizer:
    """UTF-8 bytes as token ids."""

    def encode(self, text, add_special_tokens=False):
        return list(text.encode("utf-8"))

    def decode(self, ids):
        return bytes(ids).decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def tiny_lm():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256)
    return LlamaForCausalLM(config).eval()


def direct_loss(model, prefix, text):
    """Mean next-token loss of `text` after `prefix`, one unpadded forward pass."""
    p = list(prefix.encode())
    ids = torch.tensor([p + list(text.encode())])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
    nll = -logp[torch.arange(ids.shape[1] - 1), ids[0, 1:]]
    return float(nll[len(p) - 1 :].mean())


def test_surprisal_matches_direct_forward_passes(tiny_lm):
    record = make_record()
    record.test, record.negatives = record.test[:4], record.negatives[:3]
    explanation = Explanation(latent=record.latent, text="the word cat", explainer="default")
    scorer = SurprisalScorer(tiny_lm, ByteTokenizer(), batch_size=3)  # batches mix lengths: padding is tested
    result = asyncio.run(scorer.score(record, explanation, client=None))
    assert len(result.samples) == 7
    for ex, sample in zip(record.test + record.negatives, result.samples):
        text = " " + "".join(ex.str_tokens)
        expected = (direct_loss(tiny_lm, BASELINE_PREFIX, text)
                    - direct_loss(tiny_lm, EXPLAINED_PREFIX.format(explanation="the word cat"), text))
        assert sample.value == pytest.approx(expected, abs=1e-4)
    truth = [s.activating for s in result.samples]
    assert result.metrics["auroc"] == pytest.approx(roc_auc_score(truth, [s.value for s in result.samples]))
    assert result.metrics["auroc_chance"] == 0.5


def test_surprisal_loads_its_model_with_that_models_own_tokenizer(tmp_path):
    """The subject's tokenizer decodes the excerpts; the scorer's model reads them with its own."""
    from cache_helpers import make_tiny_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = make_tiny_model(tmp_path / "lm")
    record = make_record()
    record.test, record.negatives = record.test[:2], record.negatives[:2]
    for ex in record.test + record.negatives:  # words the tiny model's word-level vocabulary knows
        ex.str_tokens = tuple(["the", " city", " of", " new", " school"][: len(ex.tokens)] + [" time"] * (len(ex.tokens) - 5))
    scorer = SurprisalScorer(tokenizer=ByteTokenizer(), model_name=str(folder))
    result = asyncio.run(scorer.score(record, Explanation(record.latent, "the city", "default"), client=None))
    own = AutoTokenizer.from_pretrained(str(folder))
    assert type(scorer.lm_tokenizer).__name__ == type(own).__name__ and not isinstance(scorer.lm_tokenizer, ByteTokenizer)
    model = AutoModelForCausalLM.from_pretrained(str(folder)).eval()

    def loss(prefix, text):
        p = own.encode(prefix, add_special_tokens=False)
        ids = torch.tensor([p + own.encode(text, add_special_tokens=False)])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
        return float(-logp[torch.arange(ids.shape[1] - 1), ids[0, 1:]][len(p) - 1 :].mean())

    text = "".join(record.test[0].str_tokens)
    expected = loss(BASELINE_PREFIX, text) - loss(EXPLAINED_PREFIX.format(explanation="the city"), text)
    assert result.samples[0].value == pytest.approx(expected, abs=1e-4)


def test_surprisal_settings_are_checked():
    default = SurprisalScorer()  # nothing loads until the first score
    assert default.model is None and default.model_name == "embedded:SmolLM2-135M-Instruct"
    with pytest.raises(ValueError, match="surprisal model_name"):
        SurprisalScorer(model_name="/no/such/model.gguf")
    with pytest.raises(ValueError, match="tokenizer"):
        SurprisalScorer(model=object())


def test_embedding_scorer_with_the_shipped_minilm():
    from sentence_transformers import SentenceTransformer

    record = make_record()
    explanation = Explanation(latent=record.latent, text="sentences about a pet cat", explainer="default")
    scorer = EmbeddingScorer()
    result = asyncio.run(scorer.score(record, explanation, client=None))
    texts = ["".join(ex.str_tokens) for ex in record.test + record.negatives]
    model = SentenceTransformer(scorer.model_path, device="cpu")
    vectors = model.encode(["sentences about a pet cat", *texts], normalize_embeddings=True)
    assert [s.value for s in result.samples] == pytest.approx(list(vectors[1:] @ vectors[0]), abs=1e-5)
    # the cat sentences sit clearly closer to a cat explanation than the others
    assert result.metrics["auroc"] > 0.9
    assert result.metrics["auroc"] == pytest.approx(
        roc_auc_score([s.activating for s in result.samples], [s.value for s in result.samples]))
    assert np.isfinite(result.metrics["auroc"])
