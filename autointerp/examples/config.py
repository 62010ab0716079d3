"""`ExamplesConfig`: how per-latent records are built from the cache (windows, samplers, negatives)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

from autointerp.examples.non_activating import NonActivatingSource
from autointerp.examples.samplers import Sampler

logger = logging.getLogger(__name__)


DEFAULT_SEED = 22
"""The run's seed when none is given (`interpret.seed`), and the examples' outside a run."""


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
    train_sampler: Sampler | None = None
    """How train windows are drawn from the train pool, by type: `QuantileSampler` (equal numbers per
    bin; None means this one), `TopSampler` (strongest), `RandomSampler`, `MixSampler` (`ratio_top`
    strongest, the rest by quantiles)."""
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
    non_activating: NonActivatingSource | None = None
    """Where negatives come from, by type: `RandomSource` (silent aligned windows; None means this one),
    `NeighboursSource` (the top windows of similar latents: `neighbours_type`, `n_neighbours`) or
    `FaissSource` (windows nearest in embedding space to the latent's activating ones:
    `embedding_model`, `max_windows`, `batch_size`)."""
    seed: int | None = None
    """Seed of every random draw; records are reproducible and independent of build order. None means
    the run's seed (`interpret.seed`), or `DEFAULT_SEED` for a builder used outside a run."""
    n_examples_select: int = 0
    """Activating windows of the select split, used only to choose and revise explanations
    (`interpret.selection`), never shown in reported scores; disjoint from train and test. 0: none."""
    n_non_activating_select: int | None = None
    """Non-activating windows of the select split (the selection scorer's negatives), disjoint from
    every other negative; None: in proportion, `n_non_activating * n_examples_select / n_examples_test`."""

    def __post_init__(self) -> None:
        """Check every setting and name the one at fault."""
        for name in ("min_examples", "n_examples_train", "n_examples_test", "n_non_activating", "n_explainer_negatives",
                     "n_examples_select"):
            _check_int(name, getattr(self, name), minimum=0)
        for name in ("n_quantiles", "example_ctx_len"):
            _check_int(name, getattr(self, name), minimum=1)
        if self.n_examples_train + self.n_examples_test == 0:
            raise ValueError("n_examples_train and n_examples_test are both 0: there is nothing to build")
        if not isinstance(self.center_examples, bool):
            raise ValueError(f"center_examples must be true or false, got {self.center_examples!r}")
        if self.left_context is not None:
            _check_int("left_context", self.left_context, minimum=0)
            if self.left_context >= self.example_ctx_len:
                raise ValueError(
                    f"left_context ({self.left_context}) must be smaller than example_ctx_len ({self.example_ctx_len})"
                )
        if self.seed is not None:
            _check_int("seed", self.seed, minimum=0)
        if self.n_non_activating_select is not None:
            _check_int("n_non_activating_select", self.n_non_activating_select, minimum=0)
        wanted = self.n_examples_train + self.n_examples_test + self.n_examples_select
        if self.min_examples < wanted:  # legal (the quickstart does it), but never silent
            select = " + n_examples_select" if self.n_examples_select else ""
            logger.warning("min_examples (%d) < n_examples_train + n_examples_test%s (%d): a latent with fewer "
                           "activating windows keeps its %d test windows and gets fewer train windows",
                           self.min_examples, select, wanted, self.n_examples_test)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: plain settings, the sampler and source as their class path."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("train_sampler", "non_activating"):
            value = out[name]
            out[name] = None if value is None else f"{type(value).__module__}.{type(value).__qualname__}"
        return out

    @property
    def left(self) -> int:
        """Tokens before the strongest token in a centered window."""
        return self.example_ctx_len // 2 if self.left_context is None else self.left_context

    @property
    def n_select_negatives(self) -> int:
        """Non-activating windows of the select split (0 without a select split)."""
        if self.n_examples_select == 0:
            return 0
        if self.n_non_activating_select is not None:
            return self.n_non_activating_select
        return round(self.n_non_activating * self.n_examples_select / max(self.n_examples_test, 1))

    @property
    def n_negatives_total(self) -> int:
        """Negatives asked for: scorers', explainer's and the select split's."""
        return self.n_non_activating + self.n_explainer_negatives + self.n_select_negatives


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
