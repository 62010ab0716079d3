"""A real run folder for the export tests: the real cache format, RecordBuilder, explainer, scorers and
logit lens (the shipped SAE's decoder through the embedded SmolLM2's unembedding), with the scripted
client of `interp_fixtures` standing in for the LLM (a fake is right here: the export reads files)."""

from __future__ import annotations

import json
from pathlib import Path

from autointerp.io import write_json
from autointerp.latents.format import MANIFEST
from interp_fixtures import ScriptedClient
from run_helpers import EMBEDDED_MODEL, make_token_cache, text_tokens

HP = "layers.15"
N_LATENTS = 4
SHIPPED_SAE = Path(__file__).resolve().parents[2] / "autointerp" / "assets" / "smollm2-135m-instruct-topk"


def make_real_run(results_dir: Path, name: str = "exported", **settings) -> Path:
    """`results_dir/name`: a token cache of real text, then the real interpret stage over all its latents."""
    from autointerp.examples.config import ExamplesConfig
    from autointerp.explainers import DefaultExplainer
    from autointerp.models.subject import load_tokenizer
    from autointerp.pipeline.config import InterpretConfig
    from autointerp.pipeline.run import interpret
    from autointerp.pipeline.tokenizer import save_tokenizer
    from autointerp.scorers import DetectionScorer, FuzzScorer

    tokenizer = load_tokenizer(EMBEDDED_MODEL)
    run_dir = results_dir / name
    make_token_cache(run_dir, text_tokens(tokenizer, 24, 32), d_sae=N_LATENTS, hookpoint=HP)
    manifest_path = run_dir / "latents" / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    write_json(manifest_path, manifest | {"sparse_model": str(SHIPPED_SAE)})  # a real decoder for the logit lens
    save_tokenizer(tokenizer, run_dir / "tokenizer")
    config = InterpretConfig(
        client=ScriptedClient(), explainer=DefaultExplainer(structured=True),
        scorers=[DetectionScorer(n_examples_per_prompt=4, structured=True), FuzzScorer(n_examples_per_prompt=4, structured=True)],
        mlflow=False, report=False, pipeline_num_proc=2,
        examples=ExamplesConfig(min_examples=2, n_examples_train=3, n_examples_test=2, n_non_activating=2, example_ctx_len=10),
        **settings,
    )
    run_config = {"name": name, "data": {"dataset_repo": "embedded:gensim", "dataset_split": "train[90%:]"}}
    interpret(run_dir, config, run_config)
    return run_dir
