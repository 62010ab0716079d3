"""The flat command's flags: the spec's Complete Parameter Reference, each with its default and where it lands."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any


def _bool(text: str) -> bool:
    """`--center_examples false` and friends."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


@dataclass(frozen=True)
class Flag:
    """One command-line flag and the config key it sets (`section.key`)."""

    name: str
    target: str | None
    """Where the value lands in the config dict, e.g. `data.n_tokens`; None for flags handled by hand."""
    default: Any
    help: str
    type: Any = str
    nargs: str | None = None
    switch: bool = False
    """A presence flag (`--filter_bos`), which also takes an explicit true/false."""
    keep_none: bool = False
    """Write the value even when it is None (an explicit null in the config)."""

    @property
    def dest(self) -> str:
        """The attribute name on the parsed namespace."""
        return self.name

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Add the flag to a parser."""
        if self.switch:
            parser.add_argument(f"--{self.name}", nargs="?", const=True, default=self.default, type=_bool, help=self.help)
        else:
            parser.add_argument(f"--{self.name}", default=self.default, type=self.type, nargs=self.nargs, help=self.help)


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ("none", "null") else int(text)


FLAGS: tuple[Flag, ...] = (
    # Core model parameters (MODEL and SAE are positional)
    Flag("hookpoints", "model.init_args.hookpoints", [], "Model layers where the sparse coders attach, e.g. layers.16.", nargs="*"),
    Flag("max_latents", "interpret.max_latents", None, "Latents to analyze per hookpoint (the first ones); none = all.",
         type=_optional_int, keep_none=True),
    # Explainer model
    Flag("explainer_model", "interpret.explainer_model", "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
         "LLM that writes explanations and answers the scorers."),
    Flag("explainer_model_max_len", "interpret.explainer_model_max_len", 5120, "Context length of the explainer.", type=int),
    Flag("explainer_provider", "interpret.explainer_provider", "offline",
         "How the explainer runs: offline, openrouter, openai, vllm, llamacpp."),
    Flag("explainer", "interpret.explainer", "default", "Explanation strategy: default, contrastive, chain-of-thought."),
    # Scoring
    Flag("scorers", "interpret.scorers", ["fuzz", "detection"],
         "Scorers: detection, recall, fuzz, simulation, surprisal, embedding, intruder.", nargs="+"),
    Flag("num_examples_per_scorer_prompt", "interpret.num_examples_per_scorer_prompt", 5, "Examples per scorer prompt.", type=int),
    # Dataset and caching
    Flag("dataset_repo", "data.dataset_repo", "EleutherAI/SmolLM2-135M-10B", "Dataset (hub name or local path) to cache activations on."),
    Flag("dataset_split", "data.dataset_split", "train[:1%]", "Dataset split or slice, e.g. train[:1000]."),
    Flag("dataset_name", "data.dataset_name", "", "Dataset configuration name."),
    Flag("dataset_column", "data.dataset_column", "text", "Column holding the text."),
    Flag("n_tokens", "data.n_tokens", 10_000_000, "Tokens to cache.", type=int),
    Flag("batch_size", "data.batch_size", 32, "Sequences per batch.", type=int),
    Flag("cache_ctx_len", "data.cache_ctx_len", 256, "Tokens per cached sequence.", type=int),
    Flag("n_splits", None, 5, "Shards (safetensors files) per hookpoint the cache is split into.", type=int),
    # Example construction
    Flag("min_examples", "interpret.examples.min_examples", 200, "Activating windows a latent needs to be analyzed.", type=int),
    Flag("n_examples_train", "interpret.examples.n_examples_train", 40, "Activating windows shown to the explainer.", type=int),
    Flag("n_examples_test", "interpret.examples.n_examples_test", 50, "Activating windows the scorers test.", type=int),
    Flag("n_non_activating", "interpret.examples.n_non_activating", 50, "Non-activating windows the scorers test.", type=int),
    Flag("example_ctx_len", "interpret.examples.example_ctx_len", 32, "Tokens per example window.", type=int),
    Flag("center_examples", "interpret.examples.center_examples", True, "Center windows on the strongest token.", switch=True),
    Flag("non_activating_source", "interpret.examples.non_activating_source", "random",
         "Where negatives come from: random, neighbours, FAISS."),
    Flag("neighbours_type", "interpret.examples.neighbours_type", "co-occurrence",
         "Latent similarity for neighbours: co-occurrence, decoder_similarity, encoder_similarity."),
    # Technical
    Flag("pipeline_num_proc", "interpret.pipeline_num_proc", 120, "Latents processed concurrently.", type=int),
    Flag("num_gpus", None, None, "GPUs for the subject model (default 8: all visible, up to 8; CPU when none).",
         type=_optional_int),
    Flag("seed", None, 22, "Random seed (data order, example sampling, everything).", type=int),
    Flag("verbose", None, True, "Progress bars and INFO logging.", switch=True),
    Flag("filter_bos", "model.init_args.filter_bos", False, "Drop activations at beginning-of-sequence tokens.", switch=True),
    Flag("log_probs", "interpret.log_probs", False, "Ask for token logprobs: P(yes) per example, AUROC.", switch=True),
    Flag("load_in_8bit", "model.init_args.load_in_8bit", False, "Load the subject model in 8 bits (needs CUDA).", switch=True),
    Flag("hf_token", None, None, "Hugging Face token; passed through the environment, never written."),
    Flag("overwrite", "interpret.overwrite", [], "Stages to redo: cache, neighbours, explanations, scores.", nargs="*"),
    Flag("name", "name", "default", "Run name: results go to RESULTS_DIR/NAME."),
)
"""The spec's Complete Parameter Reference, in its order, with its defaults."""

EXTRA_FLAGS: tuple[Flag, ...] = (
    Flag("explainer_base_url", "interpret.explainer_base_url", None,
         "Base URL of an OpenAI-compatible server (vLLM, llama.cpp); several URLs spread requests over replicas.",
         nargs="+"),
    Flag("n_explainer_negatives", "interpret.examples.n_explainer_negatives", None,
         "Silent excerpts shown to a contrastive explainer (FAISS makes it contrastive); none = as many as "
         "n_examples_train.", type=int),
    Flag("structured", "interpret.structured", False, "JSON-schema constrained replies (llama.cpp, vLLM, OpenAI).", switch=True),
    Flag("no_llm_cache", None, False, "Do not keep or use the persistent LLM response cache.", switch=True),
    Flag("reference_run", "interpret.reference_run", None, "A run under results/ to compare firing rates against."),
    Flag("serve_gguf", "interpret.serve_gguf", None, "Serve this GGUF (`embedded`: the shipped SmolLM2) with llama.cpp on 127.0.0.1 for the stage."),
    Flag("tracking_uri", "interpret.tracking_uri", None, "MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)."),
    Flag("interpret", None, True, "Run the interpret stage after caching.", switch=True),
    Flag("results_dir", "results_dir", "results", "Folder holding the runs."),
)
"""Flags beyond the spec's reference."""
