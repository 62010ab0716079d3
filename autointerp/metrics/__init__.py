"""Metrics: classification scores with chance levels, pooled correlation, summaries over latents."""

from autointerp.metrics.aggregate import QualityBar, aggregate, bootstrap_ci, latent_statistics
from autointerp.metrics.classification import auroc, classification_metrics, confusion
from autointerp.metrics.correlation import pearson, pooled_correlation

__all__ = [
    "QualityBar",
    "aggregate",
    "auroc",
    "bootstrap_ci",
    "classification_metrics",
    "confusion",
    "latent_statistics",
    "pearson",
    "pooled_correlation",
]
