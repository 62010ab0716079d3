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


def test_examples_per_prompt_shrinks_to_fit_the_context():
    from autointerp.examples.config import ExamplesConfig
    from autointerp.pipeline.components import PROMPT_OVERHEAD_TOKENS, examples_per_prompt_that_fit

    roomy = InterpretConfig(num_examples_per_scorer_prompt=5, explainer_model_max_len=4096)
    assert examples_per_prompt_that_fit(roomy) == 5
    # 64-token excerpts cost up to 2 * 64 + 8 = 136 tokens each; 1024 - 512 leaves room for 3 of them
    tight = InterpretConfig(num_examples_per_scorer_prompt=10, explainer_model_max_len=1024,
                            examples=ExamplesConfig(example_ctx_len=64))
    assert examples_per_prompt_that_fit(tight) == (1024 - PROMPT_OVERHEAD_TOKENS) // 136 == 3
    assert components.build_scorers(tight)["detection"].n_examples_per_prompt == 3


def test_a_managed_servers_client_keeps_its_slots_in_flight_and_a_long_timeout(tmp_path):
    from autointerp.pipeline.served import MANAGED_TIMEOUT, Served

    class OneSlot:
        slots, sha256 = 1, "0" * 64

    served = Served("http://127.0.0.1:9/v1", "served.gguf", OneSlot())
    config = InterpretConfig(explainer_provider="llamacpp", explainer_base_url=served.base_url, max_concurrency=32)
    client = components.build_client(config, tmp_path, None, served.base_url, model=served.model,
                                     server_slots=served.slots, timeout=served.request_timeout)
    assert (client.model, client.in_flight_limit, client.adaptive, client.timeout) == ("served.gguf", 1, None, MANAGED_TIMEOUT)
    url = components.build_client(config, tmp_path, None, served.base_url)  # a URL: adaptive under max_concurrency
    assert url.in_flight_limit == 32 and url.adaptive is not None and url.timeout == 120.0
    assert Served(served.base_url, "m").request_timeout is None
