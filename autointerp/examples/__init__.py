"""Per-latent records from the cache: windows, train/test samplers, non-activating sources."""

from autointerp.examples.builder import RecordBuilder
from autointerp.examples.config import ExamplesConfig
from autointerp.examples.non_activating import (
    FaissSource,
    NeighboursSource,
    NonActivatingSource,
    RandomSource,
)
from autointerp.examples.samplers import MixSampler, QuantileSampler, RandomSampler, Sampler, TopSampler

__all__ = [
    "ExamplesConfig",
    "FaissSource",
    "MixSampler",
    "NeighboursSource",
    "NonActivatingSource",
    "QuantileSampler",
    "RandomSampler",
    "RandomSource",
    "RecordBuilder",
    "Sampler",
    "TopSampler",
]
