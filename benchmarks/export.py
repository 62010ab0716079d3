"""Benchmark `autointerp export --format neuronpedia` on a 1,000-latent run against reading the run's JSON.

    .venv/bin/python benchmarks/export.py [--latents 1000] [--repeats 3] [--run_dir /tmp/report-bench]

The run folder is the report benchmark's (the interpret stage's layout at the spec defaults: 40
train, 50 test and 50 non-activating examples of 32 tokens per latent, two scorers). Baseline,
measured in the same process: parsing every JSON file of the run with `json.load` (the floor any
exporter pays).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autointerp.export import export_run  # noqa: E402
from tests.report.runs import RunSpec, make_run  # noqa: E402


def read_all_json(run_dir: Path) -> float:
    """Seconds to parse every JSON file of the run (the baseline)."""
    start = time.perf_counter()
    for path in run_dir.rglob("*.json"):
        json.loads(path.read_text())
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print a results table."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--latents", type=int, default=1000)
    args.add_argument("--repeats", type=int, default=3)
    args.add_argument("--run_dir", type=Path, help="keep the generated run here and reuse it on the next call")
    opts = args.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = opts.run_dir or Path(tmp) / "bench"
        if not (run_dir / "summary.json").is_file():
            make_run(run_dir, RunSpec(latents_per_hookpoint=opts.latents // 2, n_train=40, n_test=50, n_negatives=50,
                                      ctx=32, failed={("layers.3", 7)}))
        base, times, cpu = [], [], []
        for _ in range(opts.repeats):
            base.append(read_all_json(run_dir))
            t, c = time.perf_counter(), time.process_time()
            counts = export_run(run_dir, Path(tmp) / "out", "neuronpedia", overwrite=True)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        size = sum(p.stat().st_size for p in (Path(tmp) / "out").rglob("*") if p.is_file()) / 1e6
    med = statistics.median
    print(f"{counts}; {size:.1f} MB written; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'measure (median of %d)' % opts.repeats:<40} {'seconds':>8} {'baseline s':>11} {'ratio':>6}")
    print(f"{'export_run vs json.load of every file':<40} {med(times):>8.2f} {med(base):>11.2f} {med(times) / med(base):>6.2f}")
    print(f"{'export_run, CPU time':<40} {med(cpu):>8.2f}")


if __name__ == "__main__":
    main()
