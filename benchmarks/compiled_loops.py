"""The compiled loops against their numpy twins, latent by latent, in one run.

    .venv/bin/python benchmarks/compiled_loops.py [--latents 1000] [--rows 2000]

Writes the 4x-rows cache of `records.py` (2,000 rows of 256 tokens, d_sae 4096, ~3,100 nonzeros
per latent) and times, over the first `--latents` latents (CPU time, best of 3 passes): the
centered window search (`_centered_compiled` vs `_centered_numpy`, results checked equal) and the
co-occurrence counts (`shared_counts` vs `_shared_counts_numpy`, checked equal). Also: building 90
examples with keyword against positional arguments (what `RecordBuilder` does per record).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import HP, make_cache  # noqa: E402

from autointerp.examples import windows  # noqa: E402
from autointerp.examples.neighbours import CoOccurrenceNeighbours  # noqa: E402
from autointerp.latents import CacheReader  # noqa: E402
from autointerp.records import ActivatingExample  # noqa: E402


def best_cpu(run, passes: int = 3) -> float:
    """Smallest CPU seconds of `passes` calls."""
    best = float("inf")
    for _ in range(passes):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def bench_search(latents: list) -> None:
    """Window search per latent, compiled vs numpy, same windows."""
    for ti, act in latents:
        a, b = windows._centered_compiled(ti, act, 256, 32, 16), windows._centered_numpy(ti, act, 256, 32, 16)
        assert np.array_equal(a.rows, b.rows) and np.array_equal(a.starts, b.starts)
    compiled = best_cpu(lambda: [windows._centered_compiled(ti, act, 256, 32, 16) for ti, act in latents])
    plain = best_cpu(lambda: [windows._centered_numpy(ti, act, 256, 32, 16) for ti, act in latents])
    n = len(latents)
    print(f"centered window search: compiled {compiled / n * 1e6:.1f} us per latent, numpy {plain / n * 1e6:.1f} us "
          f"({plain / compiled:.1f}x)")  # fmt: skip


def bench_cooccurrence(reader: CacheReader, latents: list) -> None:
    """Co-occurrence counts per latent, compiled vs numpy, same counts."""
    finder = CoOccurrenceNeighbours(reader, HP)
    tokens = [ti for ti, _ in latents]
    for ti in tokens[:50]:
        assert np.array_equal(finder.shared_counts(ti), finder._shared_counts_numpy(ti))
    compiled = best_cpu(lambda: [finder.shared_counts(ti) for ti in tokens])
    plain = best_cpu(lambda: [finder._shared_counts_numpy(ti) for ti in tokens])
    n = len(tokens)
    print(f"co-occurrence counts: compiled {compiled / n * 1e6:.1f} us per latent, numpy {plain / n * 1e6:.1f} us "
          f"({plain / compiled:.1f}x)")  # fmt: skip


def bench_examples() -> None:
    """90 examples (one record's activating ones) built with keyword vs positional arguments."""
    tokens, acts, norm = np.zeros((90, 32), np.int32), np.zeros((90, 32), np.float32), np.zeros((90, 32), np.int8)
    columns = list(zip(range(90), range(90), tokens, acts, [None] * 90, norm, range(90)))

    def keyword():
        return [ActivatingExample(row=r, start=s, tokens=t, activations=a, role="train", str_tokens=st, normalized=z,
                                  quantile=q) for r, s, t, a, st, z, q in columns]  # fmt: skip

    def positional():
        return [ActivatingExample(r, s, t, a, "train", st, z, q) for r, s, t, a, st, z, q in columns]

    kw = min(timeit.repeat(keyword, number=200, repeat=5)) / 200
    pos = min(timeit.repeat(positional, number=200, repeat=5)) / 200
    print(f"90 examples: keyword arguments {kw * 1e6:.0f} us, positional {pos * 1e6:.0f} us ({kw / pos:.2f}x)")


def main() -> None:
    """Write the cache, run every comparison."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latents", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    if windows.kernels is None:
        raise SystemExit("the compiled kernels are not built: run `make install` (needs a C compiler)")
    print("load average at start (1, 5, 15 min): %.1f %.1f %.1f" % os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        nnz = make_cache(Path(tmp), args.rows)
        reader = CacheReader(Path(tmp))
        latents = [(a.token_index, a.activations) for a in (reader.latent(HP, j) for j in range(args.latents))]
        mean = np.mean([len(ti) for ti, _ in latents])
        print(f"cache: {nnz:,} nonzeros, {args.rows} rows; {mean:.0f} nonzeros per benchmarked latent")
        bench_search(latents)
        bench_cooccurrence(reader, latents)
    bench_examples()
    print("load average at end (1, 5, 15 min): %.1f %.1f %.1f" % os.getloadavg())


if __name__ == "__main__":
    main()
