"""The one place where the spec's names become components chosen by type (`class_path` + `init_args` dicts).

`--explainer_provider vllm` is an `OpenAICompatibleClient` at `--explainer_base_url`, `--scorers
detection` a `DetectionScorer`, FAISS negatives make the `default` explainer a `ContrastiveExplainer`.
Everything after the flat command (YAML, the interpret stage) sees only the classes.
"""

from __future__ import annotations

import argparse
from typing import Any

CLIENTS = {
    "offline": "autointerp.clients.OfflineClient",
    "openrouter": "autointerp.clients.OpenRouter",
    "openai": "autointerp.clients.OpenAICompatibleClient",
    "vllm": "autointerp.clients.OpenAICompatibleClient",
    "llamacpp": "autointerp.clients.LlamaCppClient",
}
"""`--explainer_provider` -> client class."""

EXPLAINERS = {
    "default": "autointerp.explainers.DefaultExplainer",
    "contrastive": "autointerp.explainers.ContrastiveExplainer",
    "chain-of-thought": "autointerp.explainers.ChainOfThoughtExplainer",
    "top-tokens": "autointerp.explainers.TopTokensExplainer",
}
"""`--explainer` -> explainer class."""

LLM_SCORER = ("n_examples_per_prompt", "log_probs", "structured")
SCORERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "detection": ("autointerp.scorers.DetectionScorer", LLM_SCORER),
    "recall": ("autointerp.scorers.RecallScorer", LLM_SCORER),
    "fuzz": ("autointerp.scorers.FuzzScorer", LLM_SCORER),
    "simulation": ("autointerp.scorers.SimulationScorer", ("log_probs", "structured")),
    "intruder": ("autointerp.scorers.IntruderScorer", ("n_examples_per_prompt", "structured")),
    "surprisal": ("autointerp.scorers.SurprisalScorer", ()),
    "embedding": ("autointerp.scorers.EmbeddingScorer", ()),
    "steering": ("autointerp.scorers.SteeringScorer", ("structured",)),
}
"""`--scorers NAME` -> (scorer class, the flat flags it takes: `--num_examples_per_scorer_prompt`,
`--log_probs`, `--structured`)."""

SOURCES = {
    "random": "autointerp.examples.RandomSource",
    "neighbours": "autointerp.examples.NeighboursSource",
    "FAISS": "autointerp.examples.FaissSource",
}
"""`--non_activating_source` -> non-activating source class."""

NEIGHBOURS_TYPES = ("co-occurrence", "decoder_similarity", "encoder_similarity")


def _choice(flag: str, value: str, choices: Any) -> None:
    if value not in choices:
        raise SystemExit(f"--{flag} must be one of {', '.join(choices)}; got {value!r}")


def client_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The client of `--explainer_provider`, `--explainer_model`, `--explainer_base_url`, `--no_llm_cache`,
    and for HTTP providers `--max_concurrency` and `--adaptive`."""
    provider, urls = args.explainer_provider, args.explainer_base_url
    _choice("explainer_provider", provider, CLIENTS)
    init: dict[str, Any] = {"model": args.explainer_model, "cache": not args.no_llm_cache}
    if provider == "offline":
        if urls:
            raise SystemExit("--explainer_base_url makes no sense with --explainer_provider offline")
        init["max_model_len"] = args.explainer_model_max_len
        return {"class_path": CLIENTS[provider], "init_args": init}
    init.update(max_concurrency=args.max_concurrency, adaptive=args.adaptive)
    if urls:
        init["base_url"] = urls[0] if len(urls) == 1 else list(urls)
    elif provider in ("vllm", "llamacpp") and not getattr(args, "serve_gguf", None):
        raise SystemExit(f"--explainer_provider {provider} needs --explainer_base_url (e.g. http://127.0.0.1:8000/v1)")
    if provider == "vllm":
        init["api_key_env"] = "VLLM_API_KEY"
    return {"class_path": CLIENTS[provider], "init_args": init}


def explainer_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The explainer of `--explainer` (FAISS makes `default` contrastive), fitted to `--explainer_model_max_len`."""
    _choice("explainer", args.explainer, EXPLAINERS)
    name = "contrastive" if args.explainer == "default" and args.non_activating_source == "FAISS" else args.explainer
    init = {"context_length": args.explainer_model_max_len, "structured": bool(args.structured)}
    if name == "top-tokens":  # no LLM: neither a context nor a reply format applies
        init = {}
    return {"class_path": EXPLAINERS[name], "init_args": init}


def scorer_specs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One scorer per name of `--scorers`, each with the flat flags it takes."""
    values = {"n_examples_per_prompt": args.num_examples_per_scorer_prompt, "log_probs": bool(args.log_probs),
              "structured": bool(args.structured)}
    out = []
    for name in args.scorers:
        _choice("scorers", name, SCORERS)
        class_path, takes = SCORERS[name]
        out.append({"class_path": class_path, "init_args": {k: values[k] for k in takes}})
    return out


def examples_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The non-activating source of `--non_activating_source` (and `--neighbours_type`)."""
    _choice("non_activating_source", args.non_activating_source, SOURCES)
    _choice("neighbours_type", args.neighbours_type, NEIGHBOURS_TYPES)
    init = {"neighbours_type": args.neighbours_type} if args.non_activating_source == "neighbours" else {}
    return {"non_activating": {"class_path": SOURCES[args.non_activating_source], "init_args": init}}
