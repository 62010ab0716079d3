"""A real run folder for the export tests: the real cache format, RecordBuilder, explainer, scorers and
logit lens (the shipped SAE's decoder through the embedded SmolLM2's unembedding), with the scripted
client of `interp_fixtures` standing in for the LLM (a fake is right here: the export reads files)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from autointerp.io import write_json
from autointerp.latents.format import MANIFEST
from autointerp.clients.base import Response
from interp_fixtures import ScriptedClient, excerpts
from run_helpers import EMBEDDED_MODEL, make_token_cache, text_tokens

HP = "layers.15"
N_LATENTS = 4
SHIPPED_SAE = Path(__file__).resolve().parents[2] / "autointerp" / "assets" / "smollm2-135m-instruct-topk"


WORDS = ["river", "bridge", "market", "winter", "library", "cider"]
SCORERS = {"DetectionScorer": {"n_examples_per_prompt": 4, "structured": True},
           "FuzzScorer": {"n_examples_per_prompt": 4, "structured": True}}


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


class VaryingClient(ScriptedClient):
    """Explains each latent with a word picked by its prompt and answers each excerpt by its hash, so
    explanations and scores differ between latents (a mix-up of latents in the export would show)."""

    model = "scripted-judge/v1"

    def _answer(self, messages, logprobs: bool) -> Response:
        prompt = messages[-1]["content"]
        if "Excerpt 1:" in prompt and "JSON list" in prompt:
            verdicts = [_digest(t) % 2 for t in excerpts(prompt)]
            return Response(text=json.dumps(verdicts), prompt_tokens=100, completion_tokens=2 * len(verdicts) + 1)
        return Response(text=f"Explanation: the word {WORDS[_digest(prompt) % len(WORDS)]}", prompt_tokens=50,
                        completion_tokens=5)


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
        client=VaryingClient(), explainer=DefaultExplainer(structured=True),
        scorers=[DetectionScorer(**SCORERS["DetectionScorer"]), FuzzScorer(**SCORERS["FuzzScorer"])],
        mlflow=False, report=False, pipeline_num_proc=2,
        examples=ExamplesConfig(min_examples=2, n_examples_train=3, n_examples_test=2, n_non_activating=2, example_ctx_len=10),
        **settings,
    )
    run_config = {"name": name, "data": {"dataset_repo": "embedded:gensim", "dataset_split": "train[90%:]"},
                  "interpret": {"explainer": {"class_path": "autointerp.explainers.DefaultExplainer",
                                              "init_args": {"structured": True}},
                                "scorers": [{"class_path": f"autointerp.scorers.{cls}", "init_args": args}
                                            for cls, args in SCORERS.items()]}}
    interpret(run_dir, config, run_config)
    return run_dir
