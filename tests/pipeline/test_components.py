"""Building the stage's parts from the config: scorers and explainer by name, coder weights for neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autointerp.examples.config import ExamplesConfig
from autointerp.pipeline import components
from autointerp.pipeline.config import InterpretConfig


def test_scorers_and_explainer_are_built_by_name_with_the_configured_settings():
    config = InterpretConfig(scorers=["detection", "fuzz", "intruder"], num_examples_per_scorer_prompt=7, log_probs=True,
                             examples=ExamplesConfig(n_examples_train=11))
    scorers = components.build_scorers(config)
    assert set(scorers) == {"detection", "fuzz", "intruder"}
    assert scorers["detection"].n_examples_per_prompt == 7 and scorers["detection"].log_probs is True
    explainer = components.build_explainer(config)
    assert explainer.name == "default" and explainer.max_examples == 11


def test_an_unknown_scorer_fails_before_any_work():
    with pytest.raises(ValueError, match="scorers: unknown name 'bogus'"):
        components.build_scorers(InterpretConfig(scorers=["bogus"]))


def test_faiss_negatives_make_the_default_explainer_contrastive():
    config = InterpretConfig(examples=ExamplesConfig(non_activating_source="FAISS"))
    assert components.build_explainer(config).name == "contrastive"
    assert components.build_explainer(InterpretConfig(explainer="chain-of-thought")).name == "chain-of-thought"


@pytest.mark.parametrize(("kind", "key", "weight"), [("decoder_similarity", "decoder_weights", "W_dec"),
                                                     ("encoder_similarity", "encoder_weights", "encoder.weight")])
def test_weight_neighbours_get_the_coder_rows(tmp_path, kind, key, weight):
    from cache_helpers import make_sparsify_sae

    from autointerp.latents.format import CacheReader
    from pipeline_fakes import make_cache

    weights = make_sparsify_sae(tmp_path / "sae", "layers.1", d_in=16, d_sae=8, k=2)
    make_cache(tmp_path / "run")
    manifest = (tmp_path / "run" / "latents" / "manifest.json")
    manifest.write_text(manifest.read_text().replace('"tiny-sae"', f'"{tmp_path / "sae"}"'))
    config = InterpretConfig(examples=ExamplesConfig(non_activating_source="neighbours", neighbours_type=kind))
    out = components.coder_weights(config, CacheReader(tmp_path / "run" / "latents"))
    np.testing.assert_allclose(out[key]["layers.1"], weights[weight].numpy(), rtol=1e-6)
    assert components.coder_weights(InterpretConfig(), CacheReader(tmp_path / "run" / "latents")) == {}


def test_the_offline_explainer_gets_its_context_length_and_device():
    import torch

    settings = components.offline_settings(InterpretConfig(explainer_model_max_len=2048))
    assert settings["max_model_len"] == 2048
    assert settings["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    client = components.build_client(InterpretConfig(explainer_model="embedded:SmolLM2-135M-Instruct"), Path("."), None)
    assert type(client).__name__ == "OfflineClient" and client.model == "embedded:SmolLM2-135M-Instruct"


def test_a_contrastive_run_gets_explainer_negatives_on_real_records(tmp_path):
    """FAISS turns the explainer contrastive: without n_explainer_negatives its prompt would show no silent excerpt."""
    from autointerp.latents.format import CacheReader
    from pipeline_fakes import make_cache

    make_cache(tmp_path / "run", n_rows=40, rates=np.full(8, 0.05))
    faiss = InterpretConfig(examples=ExamplesConfig(non_activating_source="FAISS", n_examples_train=3))
    assert components.examples_config(faiss).n_explainer_negatives == 3
    assert components.examples_config(InterpretConfig()).n_explainer_negatives == 0
    chosen = InterpretConfig(examples=ExamplesConfig(non_activating_source="FAISS", n_explainer_negatives=5))
    assert components.examples_config(chosen).n_explainer_negatives == 5
    contrastive = InterpretConfig(explainer="contrastive", examples=ExamplesConfig(
        min_examples=2, n_examples_train=3, n_examples_test=2, n_non_activating=4, example_ctx_len=4))
    builder = components.build_record_builder(contrastive, CacheReader(tmp_path / "run" / "latents"), None, tmp_path / "run")
    record = next(r for r in map(builder.build, builder.select_latents()) if r is not None)
    assert len(record.explainer_negatives) == 3 and len(record.negatives) == 4
    class Digits:  # the fake cache's token ids, decoded as text
        def decode(self, ids):
            return f" t{ids[0]}"

        def encode(self, text):
            return text.split()

    prompt = components.build_explainer(contrastive, Digits()).build_messages(record)[-1]["content"]
    assert prompt.count("Silent excerpt") == 3
