"""Building the stage's parts from the config: scorers and explainer by name, coder weights for neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autointerp.examples.config import ExamplesConfig
from autointerp.pipeline import components
from autointerp.pipeline.config import InterpretConfig


def test_components_are_chosen_by_type_and_bound_to_the_run():
    from autointerp.explainers import ChainOfThoughtExplainer
    from autointerp.scorers import DetectionScorer, FuzzScorer, IntruderScorer

    tokenizer = object()
    config = InterpretConfig(scorers=[DetectionScorer(n_examples_per_prompt=7, log_probs=True), FuzzScorer(seed=3),
                                      IntruderScorer()], explainer=ChainOfThoughtExplainer(show_activations=True), seed=9)
    scorers = components.build_scorers(config, tokenizer)
    assert list(scorers) == ["detection", "fuzz", "intruder"]
    assert scorers["detection"].n_examples_per_prompt == 7 and scorers["detection"].log_probs is True
    assert scorers["detection"].seed == 9 and scorers["fuzz"].seed == 3  # the run's seed unless one was given
    assert scorers["intruder"].tokenizer is tokenizer
    explainer = components.build_explainer(config, tokenizer)
    assert explainer.name == "chain-of-thought" and explainer.show_activations and explainer.tokenizer is tokenizer
    assert components.build_explainer(InterpretConfig()).name == "default"
    assert list(components.build_scorers(InterpretConfig())) == ["fuzz", "detection"]  # the spec's default


def test_two_scorers_writing_under_one_name_fail_before_any_work():
    from autointerp.scorers import DetectionScorer

    with pytest.raises(ValueError, match="scorers: two scorers write under the name 'detection'"):
        components.build_scorers(InterpretConfig(scorers=[DetectionScorer(), DetectionScorer(log_probs=True)]))


def test_a_run_without_a_client_names_the_setting(tmp_path):
    from pipeline_fakes import make_cache

    from autointerp.pipeline.run import interpret

    make_cache(tmp_path / "run")
    with pytest.raises(ValueError, match="interpret.client: choose an LLM client"):
        interpret(tmp_path / "run", InterpretConfig(mlflow=False, report=False))


def test_a_served_gguf_redirects_the_client(tmp_path):
    from autointerp.clients import LlamaCppClient, OfflineClient
    from autointerp.pipeline.served import Served

    served = Served("http://127.0.0.1:9999/v1", "m")
    client = components.build_client(InterpretConfig(client=LlamaCppClient("m")), tmp_path, served)
    assert client.base_urls == ["http://127.0.0.1:9999/v1"]
    with pytest.raises(ValueError, match="serve_gguf needs an OpenAI-compatible client"):
        components.build_client(InterpretConfig(client=OfflineClient()), tmp_path, served)


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
    from autointerp.examples import NeighboursSource

    config = InterpretConfig(examples=ExamplesConfig(non_activating=NeighboursSource(neighbours_type=kind)))
    out = components.coder_weights(config, CacheReader(tmp_path / "run" / "latents"))
    np.testing.assert_allclose(out[key]["layers.1"], weights[weight].numpy(), rtol=1e-6)
    assert components.coder_weights(InterpretConfig(), CacheReader(tmp_path / "run" / "latents")) == {}


def test_a_contrastive_run_gets_explainer_negatives_on_real_records(tmp_path):
    """A contrastive explainer (FAISS makes the flat command's default one contrastive) given no
    n_explainer_negatives would show no silent excerpt: the run gives it as many as its training examples."""
    from autointerp.latents.format import CacheReader
    from pipeline_fakes import make_cache

    make_cache(tmp_path / "run", n_rows=40, rates=np.full(8, 0.05))
    from autointerp.explainers import ContrastiveExplainer

    contrastive_only = InterpretConfig(explainer=ContrastiveExplainer(), examples=ExamplesConfig(n_examples_train=3))
    assert components.examples_config(contrastive_only).n_explainer_negatives == 3
    assert components.examples_config(InterpretConfig()).n_explainer_negatives == 0
    chosen = InterpretConfig(explainer=ContrastiveExplainer(), examples=ExamplesConfig(n_explainer_negatives=5))
    assert components.examples_config(chosen).n_explainer_negatives == 5
    contrastive = InterpretConfig(explainer=ContrastiveExplainer(), examples=ExamplesConfig(
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


def test_scorer_prompts_shrink_to_fit_the_context():
    from autointerp.pipeline.components import PROMPT_OVERHEAD_TOKENS, fit_scorer_prompts
    from autointerp.scorers import DetectionScorer, FuzzScorer

    roomy = {"detection": DetectionScorer(n_examples_per_prompt=5)}
    fit_scorer_prompts(roomy, 4096, 64)
    assert roomy["detection"].n_examples_per_prompt == 5
    # 64-token excerpts cost up to 2 * 64 + 8 = 136 tokens each; 1024 - 512 leaves room for 3 of them
    tight = {"detection": DetectionScorer(n_examples_per_prompt=10), "fuzz": FuzzScorer(n_examples_per_prompt=2)}
    fit_scorer_prompts(tight, 1024, 64)
    assert tight["detection"].n_examples_per_prompt == (1024 - PROMPT_OVERHEAD_TOKENS) // 136 == 3
    assert tight["fuzz"].n_examples_per_prompt == 2
    fit_scorer_prompts(tight, None, 64)  # an unknown context changes nothing
    assert tight["detection"].n_examples_per_prompt == 3


def test_a_managed_servers_client_keeps_its_slots_in_flight_and_a_long_timeout(tmp_path):
    from autointerp.clients import LlamaCppClient
    from autointerp.pipeline.served import MANAGED_TIMEOUT, Served

    class OneSlot:
        slots, sha256 = 1, "0" * 64

    served = Served("http://127.0.0.1:9/v1", "served.gguf", OneSlot())
    config = InterpretConfig(client=LlamaCppClient("m", max_concurrency=32), serve_gguf="embedded")
    client = components.build_client(config, tmp_path, served)
    assert (client.model, client.in_flight_limit, client.adaptive, client.timeout) == ("served.gguf", 1, None, MANAGED_TIMEOUT)
    url = components.build_client(InterpretConfig(client=LlamaCppClient("m", max_concurrency=32)), tmp_path)
    assert url.in_flight_limit == 32 and url.adaptive is not None and url.timeout == 120.0  # a URL: adaptive
    assert Served(served.base_url, "m").request_timeout is None


def test_examples_without_a_seed_take_the_runs_and_a_given_one_is_kept():
    from autointerp.examples.config import ExamplesConfig

    mine = ExamplesConfig()
    assert mine.seed is None
    config = InterpretConfig(examples=mine, seed=7)
    assert config.examples.seed == 7 and mine.seed is None  # resolved on a copy
    assert InterpretConfig(examples=ExamplesConfig(seed=3), seed=7).examples.seed == 3
    assert InterpretConfig().examples.seed == 22  # the default run seed, as before
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        ExamplesConfig(seed=-1)
