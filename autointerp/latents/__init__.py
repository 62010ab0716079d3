"""The latent cache: its on-disk format, a reader, and the programmatic `LatentCache`."""

from autointerp.latents.format import CacheReader, LatentActivations

__all__ = ["CacheReader", "LatentActivations"]
