"""The shared vocabulary passed between stages: latents, examples, records, explanations, scores.

Plain dataclasses with no heavy imports, so every stage (and every test) can use them. Each type
turns into JSON with `to_dict()`; arrays become lists.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

Role = Literal["train", "test", "explainer_negative", "negative", "select", "select_negative", "steering_prompt"]
"""Where an example is used: explainer training, scorer test, negative shown to an explainer,
negative used by scorers, the select split (activating and non-activating windows used only to
choose and revise explanations, never for reported scores), all pairwise disjoint; and a steering
scorer's prompt, which is none of the others."""


@dataclass(frozen=True, order=True)
class Latent:
    """One latent of one sparse coder: `layers.15/4117`."""

    hookpoint: str
    index: int

    def __str__(self) -> str:
        return f"{self.hookpoint}/{self.index}"


@dataclass
class Example:
    """A window of `example_ctx_len` tokens inside one cached row, with the latent's activations."""

    row: int
    """Global dataset row of the window in the cache."""
    start: int
    """Position of the window's first token inside its row."""
    tokens: np.ndarray
    """int [W] token ids."""
    activations: np.ndarray
    """float32 [W] the latent's activation at each token (zeros for a non-activating window)."""
    role: Role
    str_tokens: Sequence[str] | None = None
    """Decoded tokens, one string per token, filled in by the record builder as a tuple (the garbage
    collector stops tracking tuples of strings, so thousands of held records cost it nothing)."""

    @property
    def max_activation(self) -> float:
        """Largest activation in the window."""
        return float(self.activations.max()) if len(self.activations) else 0.0

    @property
    def location(self) -> dict[str, int]:
        """Where the window lives in the cache."""
        return {"row": int(self.row), "start": int(self.start)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return _jsonable(asdict(self))


@dataclass
class ActivatingExample(Example):
    """A window in which the latent fires."""

    normalized: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    """int [W] activations scaled to 0-10 against the latent's maximum over the cache."""
    quantile: int = 0
    """Activation quantile of the window, 0 = strongest bin."""


@dataclass
class NonActivatingExample(Example):
    """A window in which the latent is zero at every token."""

    source: str = "random"
    """How it was found: `random`, `neighbours` or `FAISS`."""
    distance: float | None = None
    """Similarity or distance that selected it, when the source has one."""


@dataclass
class LatentRecord:
    """Everything an explainer and the scorers need about one latent."""

    latent: Latent
    train: list[ActivatingExample] = field(default_factory=list)
    test: list[ActivatingExample] = field(default_factory=list)
    explainer_negatives: list[NonActivatingExample] = field(default_factory=list)
    """Negatives a contrastive explainer may show; never used by scorers."""
    negatives: list[NonActivatingExample] = field(default_factory=list)
    """Negatives the scorers use."""
    n_activating: int = 0
    """Activating windows available in the cache (before sampling)."""
    n_nonzero: int = 0
    """Nonzero activations of the latent in the cache."""
    firing_rate: float = 0.0
    """Fraction of cached tokens on which the latent is nonzero."""
    mean_activation: float = 0.0
    max_activation: float = 0.0
    negative_shortfall: int = 0
    """Negatives asked for but not found."""
    top_output_tokens: list[str] | None = None
    """Tokens the decoder direction promotes most through the unembedding, when computed."""
    select: list[ActivatingExample] = field(default_factory=list)
    """Activating windows of the select split: used only to choose and revise explanations."""
    select_negatives: list[NonActivatingExample] = field(default_factory=list)
    """Non-activating windows of the select split (the selection scorer's negatives)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the select lists only when the record has a select split)."""
        out = _jsonable(asdict(self))
        for key in ("select", "select_negatives"):
            if not out[key]:
                del out[key]  # records without a select split read as they always did
        return out


@dataclass
class Explanation:
    """An explainer's answer for one latent. A reply that cannot be parsed never becomes one."""

    latent: Latent
    text: str
    explainer: str
    model: str = ""
    raw_response: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return _jsonable(asdict(self))


@dataclass
class ScoredSample:
    """One scored example: the ground truth and what the scorer's LLM said."""

    row: int
    start: int
    role: Role
    activating: bool
    """Ground truth: does the latent fire in this example?"""
    quantile: int | None = None
    prediction: bool | None = None
    """The LLM's answer; None when its reply could not be parsed."""
    probability: float | None = None
    """P(yes) from logprobs, when asked for."""
    predicted_activations: list[float] | None = None
    """Per-token predictions (simulation)."""
    true_activations: list[float] | None = None
    """Per-token ground truth: the raw activations of the cache (simulation)."""
    highlighted: list[int] | None = None
    """Positions marked in the prompt (fuzz, intruder), counted in the excerpt as shown."""
    kind: str | None = None
    """What the item tests, where a scorer shows several kinds (fuzz: `correct` marks on activating
    text, `wrong` marks on activating text, `decoy` marks on non-activating text)."""
    value: float | None = None
    """A scorer-specific number per example (surprisal, embedding similarity)."""
    texts: dict[str, Any] | None = None
    """Text the scorer showed or generated for this sample (steering: the prompt and every continuation);
    left out of the JSON when None, so other scorers' files are as before."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = _jsonable(asdict(self))
        if out["texts"] is None:
            del out["texts"]
        return out


@dataclass
class ScoreResult:
    """One scorer's verdict on one latent's explanation."""

    latent: Latent
    scorer: str
    explanation: str | None
    samples: list[ScoredSample] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    n_unparseable: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    explanation_of: str | None = None
    """The latent whose explanation was scored, when it is another one (the shuffled control)."""
    fingerprint: str | None = None
    """Digest of the settings and cache that produced this result (a resumed run redoes a mismatch)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = _jsonable(asdict(self))
        for sample in out["samples"]:
            if sample.get("texts") is None:
                sample.pop("texts", None)
        return out


def _jsonable(value: Any) -> Any:
    """Turn numpy values inside nested dicts and lists into plain Python."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
