"""The interpret stage's parts from its config: the components chosen by type, bound to the run; the records."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from autointerp.clients.base import Client
from autointerp.examples.config import ExamplesConfig
from autointerp.explainers.base import Explainer
from autointerp.pipeline.config import InterpretConfig
from autointerp.run_folder import RunPaths
from autointerp.scorers.base import Scorer

logger = logging.getLogger(__name__)


def build_explainer(config: InterpretConfig, tokenizer: Any = None) -> Explainer:
    """The configured explainer (DefaultExplainer when none), given the run's tokenizer and seed."""
    from autointerp.explainers import DefaultExplainer

    explainer = config.explainer if config.explainer is not None else DefaultExplainer()
    if getattr(explainer, "output", False) and not config.output_tokens:
        raise ValueError("explainer.init_args.output needs interpret.output_tokens: true (the tokens come from the logit lens)")
    explainer.bind(tokenizer=tokenizer, seed=config.seed)
    return explainer


def build_scorers(config: InterpretConfig, tokenizer: Any = None) -> dict[str, Scorer]:
    """{name: Scorer} of the configured scorers (fuzz and detection when none), given the run's tokenizer and seed."""
    from autointerp.scorers import DetectionScorer, FuzzScorer

    scorers = config.scorers if config.scorers is not None else [FuzzScorer(), DetectionScorer()]
    out: dict[str, Scorer] = {}
    for scorer in scorers:
        if scorer.name in out:
            raise ValueError(f"scorers: two scorers write under the name {scorer.name!r}; give one another `name`")
        scorer.bind(tokenizer=tokenizer, seed=config.seed)
        out[scorer.name] = scorer
    return out


def examples_config(config: InterpretConfig, explainer: Any = None) -> ExamplesConfig:
    """The examples settings the run uses (their seed already the run's where none was given, see
    `InterpretConfig`): a contrastive explainer given no `n_explainer_negatives` gets as many as it has
    training examples."""
    from autointerp.explainers import ContrastiveExplainer

    examples = config.examples
    if isinstance(explainer if explainer is not None else config.explainer, ContrastiveExplainer) \
            and examples.n_explainer_negatives == 0:
        logger.info("contrastive explainer: n_explainer_negatives=0, using n_examples_train=%d", examples.n_examples_train)
        examples = dataclasses.replace(examples, n_explainer_negatives=examples.n_examples_train)
    return examples


def build_client(config: InterpretConfig, run_dir: Path, served: Any = None) -> Client:
    """The run's one LLM client, its response cache in the run folder. With a server the stage started
    (`served`, a `pipeline.served.Served`), every request goes there, under its name, at most its slots
    in flight and with the managed server's per-request timeout."""
    client = config.client
    if client is None:
        raise ValueError("interpret.client: choose an LLM client by class_path, e.g. "
                         "{class_path: autointerp.clients.OpenAICompatibleClient, init_args: {model: ..., base_url: ...}}")
    if served is not None and served.base_url is not None:
        if not hasattr(client, "use_managed_server"):
            raise ValueError(f"serve_gguf needs an OpenAI-compatible client (e.g. LlamaCppClient), not {type(client).__name__}")
        client.use_managed_server(served.base_url, model=served.model, slots=served.slots, timeout=served.request_timeout)
    if hasattr(client, "use_cache_at"):
        client.use_cache_at(run_dir)
    return client


PROMPT_OVERHEAD_TOKENS = 512
"""Room a scorer prompt needs besides its excerpts: system prompt, instructions, explanation, reply."""


def fit_scorer_prompts(scorers: dict[str, Scorer], context_length: int | None, example_ctx_len: int) -> None:
    """Lower each scorer's `n_examples_per_prompt` (with a warning) until its prompt fits the served
    context: an excerpt costs up to twice `example_ctx_len` tokens (marks included)."""
    if not context_length:
        return
    fits = max(1, (context_length - PROMPT_OVERHEAD_TOKENS) // (2 * example_ctx_len + 8))
    for name, scorer in scorers.items():
        wanted = getattr(scorer, "n_examples_per_prompt", None)
        if wanted is not None and wanted > fits:
            logger.warning("%s: n_examples_per_prompt=%d does not fit a context of %d tokens with example_ctx_len=%d: "
                           "using %d", name, wanted, context_length, example_ctx_len, fits)
            scorer.n_examples_per_prompt = fits


def build_record_builder(config: InterpretConfig, reader: Any, tokenizer: Any, run_dir: Path, explainer: Any = None) -> Any:
    """The record builder over the run's cache (FAISS embeddings cached in the run folder)."""
    from autointerp.examples import RecordBuilder

    if "neighbours" in config.overwrite:
        _clear_neighbour_caches(RunPaths(run_dir).examples_cache)
    weights = coder_weights(config, reader)
    return RecordBuilder(reader, examples_config(config, explainer), tokenizer, cache_dir=RunPaths(run_dir).examples_cache, **weights)


def build_output_tokens(config: InterpretConfig, reader: Any, tokenizer: Any, explainer: Any = None) -> Any:
    """The run's logit lens (`autointerp.pipeline.output_tokens.OutputTokens`), or None when switched off.

    A model or sparse model that cannot be loaded only logs a warning (the tokens decorate records),
    unless the explainer shows them (`output: true`): then it raises before any LLM call."""
    if not config.output_tokens:
        return None
    from autointerp.pipeline.output_tokens import build_output_tokens as build

    manifest = reader.manifest
    try:
        return build(manifest.model, manifest.sparse_model, config.hookpoints or reader.hookpoints, tokenizer)
    except Exception as exc:  # any loading failure: the run goes on without output tokens
        if getattr(explainer if explainer is not None else config.explainer, "output", False):
            raise ValueError(f"explainer.init_args.output: the logit-lens tokens could not be loaded: {exc}") from exc
        logger.warning("no output tokens (output_tokens): %s: %s", type(exc).__name__, exc)
        return None


def coder_weights(config: InterpretConfig, reader: Any) -> dict[str, Any]:
    """Decoder or encoder rows per hookpoint, loaded from the cache's sparse model, when the
    neighbours source compares latents by weights; {} otherwise (nothing is loaded)."""
    from autointerp.examples import NeighboursSource

    source = config.examples.non_activating
    if not isinstance(source, NeighboursSource) or source.neighbours_type == "co-occurrence":
        return {}
    from autointerp.models.sparse_coders import load_sparse_coders, resolve_sparse_model

    hookpoints = config.hookpoints or reader.hookpoints
    coders = load_sparse_coders(resolve_sparse_model(reader.manifest.sparse_model), hookpoints)
    if source.neighbours_type == "decoder_similarity":  # W_dec [d_sae, d_out]
        return {"decoder_weights": {hp: c.W_dec.detach().float().numpy() for hp, c in coders.items()}}
    return {"encoder_weights": {hp: c.encoder_weight.detach().float().numpy() for hp, c in coders.items()}}


def _clear_neighbour_caches(folder: Path) -> None:
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file():
                path.unlink()
        logger.info("overwrite=neighbours: cleared %s", folder)


def bind_run(scorers: dict[str, Scorer], config: InterpretConfig, reader: Any, run_dir: Path) -> None:
    """Tell scorers that steer the subject model (those with `bind_run`) the run's model, coders,
    text and explanations; nothing is loaded here (each loads on its first latent)."""
    for scorer in scorers.values():
        if hasattr(scorer, "bind_run"):
            manifest = reader.manifest
            scorer.bind_run(model=manifest.model, sparse_model=manifest.sparse_model,
                            hookpoints=config.hookpoints or reader.hookpoints, tokens=CachedRows(reader),
                            explanations=lambda: run_explanations(RunPaths(run_dir)))


class CachedRows:
    """The cache's token rows, read on first use: `len()` rows, `[row]` int [ctx_len]."""

    def __init__(self, reader: Any) -> None:
        """reader: the run's `CacheReader`."""
        self.reader = reader

    def __len__(self) -> int:
        return int(self.reader.manifest.n_rows)

    def __getitem__(self, row: int) -> Any:
        return self.reader.tokens[row]


def run_explanations(paths: RunPaths) -> dict[Any, str]:
    """{latent: explanation text} of every explanation the run has written so far."""
    from autointerp.io import read_json
    from autointerp.records import Latent

    out = {}
    for path in paths.explanation_files():
        data = read_json(path) or {}
        explanation = data.get("explanation") or {}
        if explanation.get("text"):
            out[Latent(path.parent.name, int(path.stem))] = explanation["text"]
    return out
