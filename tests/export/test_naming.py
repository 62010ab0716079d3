"""Our names as Neuronpedia's: model ids, source ids `<layer>-<set>`, and clear errors naming the setting."""

from __future__ import annotations

import json

import pytest

from autointerp.export import naming


@pytest.mark.parametrize("model, expected", [
    ("embedded:SmolLM2-135M-Instruct", "smollm2-135m-instruct"),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2-135m-instruct"),
    ("google/gemma-2-2b", "gemma-2-2b"),
    ("/models/Llama 3.1 8B.gguf", "llama-3-1-8b"),
])
def test_model_ids(model, expected):
    assert naming.model_id(model) == expected


def test_model_id_override_and_errors():
    assert naming.model_id("x", "Gemma-2-2B") == "gemma-2-2b"  # Neuronpedia lower-cases model ids
    with pytest.raises(ValueError, match="model_id: 'a b'"):
        naming.model_id("x", "a b")
    with pytest.raises(ValueError, match="pass --model_id"):
        naming.model_id(":::")


def test_owner_is_the_hub_organisation_only():
    assert naming.owner("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB"
    assert naming.owner("embedded:SmolLM2-135M-Instruct") == "" and naming.owner("/abs/path/model") == ""


@pytest.mark.parametrize("hookpoint, layer, kind", [
    ("layers.15", 15, "res"), ("layers.5.mlp", 5, "mlp"), ("layers.3.self_attn", 3, "att"),
    ("layers.2.post_attention_layernorm", 2, "post_attention_layernorm"), ("model.layers.7", 7, "res"),
])
def test_layer_and_kind(hookpoint, layer, kind):
    assert naming.layer_and_kind(hookpoint) == (layer, kind)


def test_source_ids_follow_neuronpedias_layer_set_naming():
    ids = naming.source_ids({"layers.15": 16384, "layers.5.mlp": 4608, "layers.3": None})
    assert ids == {"layers.15": ("15-res-16k", "res-16k"), "layers.5.mlp": ("5-mlp-4608", "mlp-4608"),
                   "layers.3": ("3-res", "res")}
    assert naming.source_ids({"layers.15": 4608}, "gemmascope-res") == {"layers.15": ("15-gemmascope-res", "gemmascope-res")}


def test_source_id_errors_name_the_setting():
    with pytest.raises(ValueError, match="hookpoint 'embed_tokens': no layer number"):
        naming.source_ids({"embed_tokens": 8})
    with pytest.raises(ValueError, match="source_set: hookpoints 'layers.3' and 'layers.3.mlp' would both become source '3-x'"):
        naming.source_ids({"layers.3": 8, "layers.3.mlp": 8}, "x")
    with pytest.raises(ValueError, match="source_set: 'a__b'"):
        naming.source_ids({"layers.3": 8}, "a__b")


def test_a_transcoder_is_named_so(tmp_path):
    for hookpoint, transcode in (("layers.4.mlp", True), ("layers.5.mlp", False)):
        (tmp_path / hookpoint).mkdir()
        (tmp_path / hookpoint / "cfg.json").write_text(json.dumps({"transcode": transcode}))
    found = naming.transcoders(str(tmp_path), ["layers.4.mlp", "layers.5.mlp", "layers.6.mlp"])
    assert found == {"layers.4.mlp"}
    assert naming.transcoders("EleutherAI/some-hub-repo", ["layers.4.mlp"]) == frozenset()
    ids = naming.source_ids({"layers.4.mlp": 2048, "layers.5.mlp": 2048}, transcoders=found)
    assert ids == {"layers.4.mlp": ("4-transcoder-2k", "transcoder-2k"), "layers.5.mlp": ("5-mlp-2k", "mlp-2k")}


def test_score_models_name_the_model_that_made_each_value():
    from autointerp.export.types import score_models

    config = {"interpret": {"scorers": [
        {"class_path": "autointerp.scorers.DetectionScorer", "init_args": {"structured": True}},
        {"class_path": "autointerp.scorers.EmbeddingScorer", "init_args": {"model_path": "/m/minilm"}},
        {"class_path": "SurprisalScorer"}]}}
    got = score_models(["detection", "embedding", "surprisal", "fuzz@shuffled"], "openai/gpt-4o-mini", config)
    assert got == {"detection": "openai/gpt-4o-mini", "embedding": "/m/minilm", "surprisal": "SmolLM2-135M-Instruct",
                   "fuzz@shuffled": "openai/gpt-4o-mini"}
