"""The flat command's flags: the spec's Complete Parameter Reference, each with where it lands.

A flag that maps to one setting of a class (`source`) takes its default and help from that class's
signature and docstring; only the spec's own names (the provider, the explainer and scorer names,
the GPU count, ...) state theirs here.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from autointerp.cli.signatures import MISSING, documented

DERIVED: Any = object()
"""Default or help taken from the `source` signature."""

DATA = ("autointerp.data.module", "TokenizedTextDataModule")
MODULE = ("autointerp.models.cache_module", "LatentCacheModule")
EXAMPLES = ("autointerp.examples.config", "ExamplesConfig")
INTERPRET = ("autointerp.pipeline.config", "InterpretConfig")
CLASSIFIER = ("autointerp.scorers.classifier", "ClassifierScorer")
EXPLAINER = ("autointerp.explainers.default", "DefaultExplainer")
HTTP_CLIENT = ("autointerp.clients.openai_compatible", "OpenAICompatibleClient")


def _bool(text: str) -> bool:
    """`--center_examples false` and friends."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ("none", "null") else int(text)


@dataclass(frozen=True)
class Flag:
    """One command-line flag and the config key it sets (`section.key`)."""

    name: str
    target: str | None
    """Where the value lands in the config dict, e.g. `data.n_tokens`; None for flags the flat command maps by hand."""
    default: Any = DERIVED
    help: str = DERIVED
    type: Any = str
    nargs: str | None = None
    switch: bool = False
    """A presence flag (`--filter_bos`), which also takes an explicit true/false."""
    keep_none: bool = False
    """Write the value even when it is None (an explicit null in the config)."""
    source: tuple[str, str, str] | None = None
    """(module, class, parameter) whose default and help this flag takes."""

    @property
    def dest(self) -> str:
        """The attribute name on the parsed namespace."""
        return self.name

    def resolved(self) -> tuple[Any, str]:
        """(default, help): stated here, or read from the source signature."""
        param = documented(*self.source[:2])[self.source[2]] if self.source else None
        default = param.default if self.default is DERIVED else self.default
        text = param.help if self.help is DERIVED else self.help
        if default is MISSING or default is DERIVED or text is DERIVED:
            raise ValueError(f"flag --{self.name}: no default or help in {self.source}")
        return default, text

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Add the flag to a parser."""
        default, text = self.resolved()
        text = text.replace("%", "%%")  # argparse formats help with %
        if self.switch:
            parser.add_argument(f"--{self.name}", nargs="?", const=True, default=default, type=_bool, help=text)
        else:
            parser.add_argument(f"--{self.name}", default=default, type=self.type, nargs=self.nargs, help=text)


def _from(where: tuple[str, str], param: str) -> tuple[str, str, str]:
    return (*where, param)


FLAGS: tuple[Flag, ...] = (
    # Core model parameters (MODEL and SAE are positional)
    Flag("hookpoints", "model.init_args.hookpoints", [], "Model layers where the sparse coders attach, e.g. layers.16.",
         nargs="*"),
    Flag("max_latents", "interpret.max_latents", type=_optional_int, keep_none=True, source=_from(INTERPRET, "max_latents")),
    # Explainer model: spec names, mapped to the client and explainer classes by the flat command
    Flag("explainer_model", None, "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
         "LLM that writes explanations and answers the scorers (the client's `model`)."),
    Flag("explainer_model_max_len", None, 5120, "Context length of the explainer: the explainer fits its prompt "
         "to it (fewer examples, with a warning), the offline client and a served GGUF get it too.", type=int),
    Flag("explainer_provider", None, "offline",
         "How the explainer runs: offline, openrouter, openai, vllm, llamacpp (each a client class)."),
    Flag("explainer", None, "default", "Explanation strategy: default, contrastive, chain-of-thought "
         "(FAISS negatives make `default` contrastive)."),
    # Scoring
    Flag("scorers", None, ["fuzz", "detection"],
         "Scorers: detection, recall, fuzz, simulation, surprisal, embedding, intruder.", nargs="+"),
    Flag("num_examples_per_scorer_prompt", None, type=int, source=_from(CLASSIFIER, "n_examples_per_prompt")),
    # Dataset and caching
    Flag("dataset_repo", "data.dataset_repo", source=_from(DATA, "dataset_repo")),
    Flag("dataset_split", "data.dataset_split", source=_from(DATA, "dataset_split")),
    Flag("dataset_name", "data.dataset_name", source=_from(DATA, "dataset_name")),
    Flag("dataset_column", "data.dataset_column", source=_from(DATA, "dataset_column")),
    Flag("n_tokens", "data.n_tokens", type=int, source=_from(DATA, "n_tokens")),
    Flag("batch_size", "data.batch_size", type=int, source=_from(DATA, "batch_size")),
    Flag("cache_ctx_len", "data.cache_ctx_len", type=int, source=_from(DATA, "cache_ctx_len")),
    Flag("n_splits", None, 5, "Shards (safetensors files) per hookpoint the cache is split into.", type=int),
    # Example construction
    Flag("min_examples", "interpret.examples.min_examples", type=int, source=_from(EXAMPLES, "min_examples")),
    Flag("n_examples_train", "interpret.examples.n_examples_train", type=int, source=_from(EXAMPLES, "n_examples_train")),
    Flag("n_examples_test", "interpret.examples.n_examples_test", type=int, source=_from(EXAMPLES, "n_examples_test")),
    Flag("n_non_activating", "interpret.examples.n_non_activating", type=int, source=_from(EXAMPLES, "n_non_activating")),
    Flag("example_ctx_len", "interpret.examples.example_ctx_len", type=int, source=_from(EXAMPLES, "example_ctx_len")),
    Flag("center_examples", "interpret.examples.center_examples", switch=True, source=_from(EXAMPLES, "center_examples")),
    Flag("non_activating_source", None, "random", "Where negatives come from: random, neighbours, FAISS "
         "(each a NonActivatingSource class)."),
    Flag("neighbours_type", None, "co-occurrence",
         "Latent similarity for neighbours: co-occurrence, decoder_similarity, encoder_similarity."),
    # Technical
    Flag("pipeline_num_proc", "interpret.pipeline_num_proc", type=int, source=_from(INTERPRET, "pipeline_num_proc")),
    Flag("num_gpus", None, None, "GPUs for the subject model (default 8: all visible, up to 8; CPU when none).",
         type=_optional_int),
    Flag("seed", None, type=int, source=_from(INTERPRET, "seed")),
    Flag("verbose", None, True, "Progress bars and INFO logging.", switch=True),
    Flag("filter_bos", "model.init_args.filter_bos", switch=True, source=_from(MODULE, "filter_bos")),
    Flag("log_probs", None, switch=True, source=_from(CLASSIFIER, "log_probs")),
    Flag("load_in_8bit", "model.init_args.load_in_8bit", switch=True, source=_from(MODULE, "load_in_8bit")),
    Flag("hf_token", None, None, "Hugging Face token; passed through the environment, never written."),
    Flag("overwrite", "interpret.overwrite", nargs="*", source=_from(INTERPRET, "overwrite")),
    Flag("name", "name", "default", "Run name: results go to RESULTS_DIR/NAME."),
)
"""The spec's Complete Parameter Reference, in its order, with its defaults."""

EXTRA_FLAGS: tuple[Flag, ...] = (
    Flag("explainer_base_url", None, None,
         "Base URL of an OpenAI-compatible server (vLLM, llama.cpp); several URLs spread requests over replicas.",
         nargs="+"),
    Flag("max_concurrency", None, help="Requests in flight at once to an HTTP explainer server, the whole run "
         "together (more wait on our side, where no request timeout runs); a managed server (--serve_gguf) "
         "gets no more than its slots.", type=int, source=_from(HTTP_CLIENT, "max_concurrency")),
    Flag("adaptive", None, help="Back the in-flight limit off when an HTTP server answers 429/503, times out "
         "or slows down, and raise it again as it keeps pace (AIMD under --max_concurrency); false keeps "
         "--max_concurrency fixed. Not used with --serve_gguf (its slots are known).", switch=True,
         source=_from(HTTP_CLIENT, "adaptive")),
    Flag("n_explainer_negatives", "interpret.examples.n_explainer_negatives", None,
         "Silent excerpts shown to a contrastive explainer (FAISS makes it contrastive); none = as many as "
         "n_examples_train.", type=int),
    Flag("structured", None, switch=True, source=_from(EXPLAINER, "structured")),
    Flag("no_llm_cache", None, False, "Do not keep or use the persistent LLM response cache.", switch=True),
    Flag("reference_run", "interpret.reference_run", source=_from(INTERPRET, "reference_run")),
    Flag("serve_gguf", "interpret.serve_gguf", source=_from(INTERPRET, "serve_gguf")),
    Flag("tracking_uri", "interpret.tracking_uri", source=_from(INTERPRET, "tracking_uri")),
    Flag("interpret", None, True, "Run the interpret stage after caching.", switch=True),
    Flag("results_dir", "results_dir", "results", "Folder holding the runs."),
)
"""Flags beyond the spec's reference."""
