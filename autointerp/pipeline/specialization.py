"""Cache statistics per latent, and specialization: how a latent's firing differs from a reference run.

A domain run (say, finance news) beside a general reference run (web text): latents that fire far
more often, or far more strongly, on the domain stand out at the top of `specialization.csv`.
Everything is read from the shards' offsets and activation arrays, one hookpoint at a time.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from autointerp.io import atomic_write_bytes, write_json
from autointerp.latents.format import CacheReader
from autointerp.run_folder import RunPaths

FIELDS = (
    "hookpoint", "latent", "firing_rate", "reference_firing_rate", "firing_rate_diff", "log_firing_ratio",
    "mean_activation", "reference_mean_activation", "mean_activation_diff",
)


def latent_totals(reader: CacheReader, hookpoint: str) -> tuple[np.ndarray, np.ndarray]:
    """(nonzero count, activation sum) per latent at one hookpoint: int64 [d_sae], float64 [d_sae]."""
    d_sae = reader.d_sae(hookpoint)
    counts = np.zeros(d_sae, dtype=np.int64)
    sums = np.zeros(d_sae, dtype=np.float64)
    for path in reader.shard_paths(hookpoint):
        offsets = reader.offsets(path)
        counts += np.diff(offsets)
        values = reader.shard_array(path, "activations").astype(np.float64)
        owner = np.repeat(np.arange(d_sae), np.diff(offsets))  # latent of each nonzero, [nnz]
        sums += np.bincount(owner, weights=values, minlength=d_sae)
    return counts, sums


def n_tokens(reader: CacheReader) -> int:
    """Tokens in the cache."""
    return reader.manifest.total_tokens


def cache_statistics(reader: CacheReader) -> dict[str, Any]:
    """Tokens, and per hookpoint d_sae, nonzeros, alive fraction and mean L0."""
    total = max(n_tokens(reader), 1)
    out: dict[str, Any] = {"n_tokens": n_tokens(reader), "hookpoints": {}}
    for hp in reader.hookpoints:
        counts = np.zeros(reader.d_sae(hp), dtype=np.int64)
        for path in reader.shard_paths(hp):
            counts += np.diff(reader.offsets(path))
        out["hookpoints"][hp] = {
            "d_sae": reader.d_sae(hp),
            "nnz": int(counts.sum()),
            "alive_fraction": float((counts > 0).mean()),
            "mean_l0": float(counts.sum() / total),
        }
    return out


def compare(reader: CacheReader, reference: CacheReader) -> list[dict[str, Any]]:
    """Per latent of every shared hookpoint: firing rate and mean activation here and in the reference."""
    rows: list[dict[str, Any]] = []
    tokens, ref_tokens = max(n_tokens(reader), 1), max(n_tokens(reference), 1)
    for hp in reader.hookpoints:
        if hp not in reference.hookpoints:
            continue
        if reader.d_sae(hp) != reference.d_sae(hp):
            raise ValueError(f"reference_run: hookpoint {hp} has {reference.d_sae(hp)} latents there, {reader.d_sae(hp)} here")
        counts, sums = latent_totals(reader, hp)
        ref_counts, ref_sums = latent_totals(reference, hp)
        for j in np.flatnonzero((counts > 0) | (ref_counts > 0)):
            rows.append(_row(hp, int(j), counts[j], sums[j], tokens, ref_counts[j], ref_sums[j], ref_tokens))
    rows.sort(key=lambda r: -r["log_firing_ratio"])
    return rows


def _row(hp: str, j: int, c: int, s: float, n: int, rc: int, rs: float, rn: int) -> dict[str, Any]:
    rate, ref_rate = c / n, rc / rn
    mean, ref_mean = (s / c if c else 0.0), (rs / rc if rc else 0.0)
    # Add half a count to both sides so a latent silent in one cache has a finite ratio.
    log_ratio = math.log((c + 0.5) / n) - math.log((rc + 0.5) / rn)
    return {
        "hookpoint": hp, "latent": j, "firing_rate": rate, "reference_firing_rate": ref_rate,
        "firing_rate_diff": rate - ref_rate, "log_firing_ratio": log_ratio,
        "mean_activation": mean, "reference_mean_activation": ref_mean, "mean_activation_diff": mean - ref_mean,
    }


def write_specialization(run_dir: str | Path, rows: list[dict[str, Any]], reference_name: str, top: int = 10) -> dict[str, Any]:
    """Write `specialization.json` and `.csv` (sorted, most domain-specific first); return a summary."""
    paths = RunPaths(run_dir)
    write_json(paths.specialization("json"), {"reference_run": reference_name, "latents": rows})

    def write_csv(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write_bytes(paths.specialization("csv"), write_csv)
    return {
        "reference_run": reference_name,
        "n_latents": len(rows),
        "most_specific": [{"hookpoint": r["hookpoint"], "latent": r["latent"], "log_firing_ratio": r["log_firing_ratio"]} for r in rows[:top]],
        "least_specific": [{"hookpoint": r["hookpoint"], "latent": r["latent"], "log_firing_ratio": r["log_firing_ratio"]} for r in rows[-top:][::-1]],
    }
