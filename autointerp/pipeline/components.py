"""Build the interpret stage's parts from its config: the client, the explainer, the scorers, the records."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

from autointerp.pipeline.config import InterpretConfig

logger = logging.getLogger(__name__)


def construct(cls: type, **candidates: Any) -> Any:
    """Instantiate `cls` with the candidate settings its constructor accepts (scorers differ in knobs)."""
    accepted = inspect.signature(cls.__init__).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    return cls(**{k: v for k, v in candidates.items() if takes_kwargs or k in accepted})


def resolve_explainer_name(config: InterpretConfig) -> str:
    """The spec's automatic choice: FAISS negatives make the default explainer contrastive."""
    if config.explainer == "default" and config.examples.non_activating_source == "FAISS":
        return "contrastive"
    return config.explainer


def build_explainer(config: InterpretConfig, tokenizer: Any = None) -> Any:
    """The configured explainer, chosen by its short name."""
    from autointerp.explainers import explainer_class

    cls = explainer_class(resolve_explainer_name(config))
    return construct(cls, tokenizer=tokenizer, max_examples=config.examples.n_examples_train, structured=config.structured,
                     output=config.explainer_output, context_length=config.explainer_model_max_len)


def examples_config(config: InterpretConfig) -> Any:
    """The examples settings the run uses: a contrastive explainer (FAISS makes the default one contrastive)
    that was given no `n_explainer_negatives` gets as many as it has training examples."""
    import dataclasses

    examples = config.examples
    if resolve_explainer_name(config) == "contrastive" and examples.n_explainer_negatives == 0:
        logger.info("contrastive explainer: n_explainer_negatives=0, using n_examples_train=%d", examples.n_examples_train)
        return dataclasses.replace(examples, n_explainer_negatives=examples.n_examples_train)
    return examples


def build_scorers(config: InterpretConfig, tokenizer: Any = None) -> dict[str, Any]:
    """{name: Scorer} for every configured scorer; an unknown name fails here, before any work."""
    from autointerp.scorers import scorer_class

    settings = {
        "tokenizer": tokenizer,
        "n_examples_per_prompt": config.num_examples_per_scorer_prompt,
        "num_examples_per_scorer_prompt": config.num_examples_per_scorer_prompt,
        "batch_size": config.num_examples_per_scorer_prompt,
        "log_probs": config.log_probs,
        "log_prob": config.log_probs,
        "seed": config.seed,
        "structured": config.structured,
    }
    return {name: construct(scorer_class(name), **settings) for name in config.scorers}


def build_client(config: InterpretConfig, run_dir: Path, accounting: Any, base_url: str | None = None) -> Any:
    """The one LLM client of the run, with its response cache in the run folder."""
    from autointerp.clients import make_client

    extra = offline_settings(config) if config.explainer_provider == "offline" else {}
    if config.explainer_provider == "llamacpp":  # its default repeat penalty makes temperature 0 non-greedy
        extra["extra_body"] = {"repeat_penalty": 1.0}
    client = make_client(
        config.explainer_provider,
        config.explainer_model,
        base_url=base_url or config.explainer_base_url,
        max_concurrency=config.max_concurrency,
        cache=config.llm_cache,
        accounting=accounting,
        **extra,
    )
    if hasattr(client, "use_cache_at"):
        client.use_cache_at(run_dir)
    return client


def offline_settings(config: InterpretConfig) -> dict[str, Any]:
    """In-process explainer: vLLM on a GPU when installed, else transformers (on the GPU when there is one)."""
    import importlib.util

    import torch

    cuda = torch.cuda.is_available()
    backend = "vllm" if cuda and importlib.util.find_spec("vllm") is not None else "transformers"
    return {"backend": backend, "device": "cuda" if cuda else "cpu", "max_model_len": config.explainer_model_max_len}


def build_accounting(config: InterpretConfig) -> Any:
    """Token accounting with the optional budget."""
    from autointerp.clients.accounting import Accounting

    return Accounting(prices=config.prices or None, budget_usd=config.budget_usd)


def build_record_builder(config: InterpretConfig, reader: Any, tokenizer: Any, run_dir: Path) -> Any:
    """The record builder over the run's cache (FAISS embeddings cached in the run folder)."""
    from autointerp.examples import RecordBuilder

    if "neighbours" in config.overwrite:
        _clear_neighbour_caches(run_dir / "examples_cache")
    weights = coder_weights(config, reader)
    return RecordBuilder(reader, examples_config(config), tokenizer, cache_dir=run_dir / "examples_cache", **weights)


def build_output_tokens(config: InterpretConfig, reader: Any, tokenizer: Any) -> Any:
    """The run's logit lens (`autointerp.pipeline.output_tokens.OutputTokens`), or None when switched off.

    A model or sparse model that cannot be loaded only logs a warning (the tokens decorate records),
    unless `explainer_output` needs them: then it raises before any LLM call."""
    if not config.output_tokens:
        return None
    from autointerp.pipeline.output_tokens import build_output_tokens as build

    manifest = reader.manifest
    try:
        return build(manifest["model"], manifest["sparse_model"], config.hookpoints or reader.hookpoints, tokenizer)
    except Exception as exc:  # any loading failure: the run goes on without output tokens
        if config.explainer_output:
            raise ValueError(f"explainer_output: the logit-lens tokens could not be loaded: {exc}") from exc
        logger.warning("no output tokens (output_tokens): %s: %s", type(exc).__name__, exc)
        return None


def coder_weights(config: InterpretConfig, reader: Any) -> dict[str, Any]:
    """Decoder or encoder rows per hookpoint, loaded from the cache's sparse model, when the
    neighbours source compares latents by weights; {} otherwise (nothing is loaded)."""
    examples = config.examples
    if examples.non_activating_source != "neighbours" or examples.neighbours_type == "co-occurrence":
        return {}
    from autointerp.models.sparse_coders import load_sparse_coders, resolve_sparse_model

    hookpoints = config.hookpoints or reader.hookpoints
    coders = load_sparse_coders(resolve_sparse_model(reader.manifest["sparse_model"]), hookpoints)
    if examples.neighbours_type == "decoder_similarity":  # W_dec [d_sae, d_out]
        return {"decoder_weights": {hp: c.W_dec.detach().float().numpy() for hp, c in coders.items()}}
    return {"encoder_weights": {hp: c.encoder_weight.detach().float().numpy() for hp, c in coders.items()}}


def _clear_neighbour_caches(folder: Path) -> None:
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file():
                path.unlink()
        logger.info("overwrite=neighbours: cleared %s", folder)
