"""The latent cache: its on-disk format, a reader, the streaming writer and the programmatic `LatentCache`."""

from autointerp.latents.cache import LatentCache, encode_batch
from autointerp.latents.format import CacheReader, LatentActivations
from autointerp.latents.manifest import Manifest, ManifestError
from autointerp.latents.writer import ShardSink, build_manifest, write_manifest

__all__ = ["CacheReader", "LatentActivations", "LatentCache", "Manifest", "ManifestError", "ShardSink", "build_manifest", "encode_batch", "write_manifest"]
