"""Benchmark the run report: write it for 1,000 latents (< 10 s) and open it in Chromium (< 3 s).

    .venv/bin/python benchmarks/report.py [--latents 1000] [--repeats 3] [--run_dir /tmp/report-bench]

The run folder has the interpret stage's layout at the spec's defaults (40 train, 50 test and 50
non-activating examples of 32 tokens per latent, two scorers). Baselines measured in the same run:
for writing, reading every JSON file of the run with `json.load` (the floor any report pays); for
opening, loading a blank page in the same browser.
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

from autointerp.report import write_report  # noqa: E402
from autointerp.report.headless import Chromium  # noqa: E402
from tests.report.runs import RunSpec, make_run  # noqa: E402


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the report's worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def read_all_json(run_dir: Path) -> float:
    """Seconds to parse every JSON file of the run (the baseline)."""
    start = time.perf_counter()
    for path in run_dir.rglob("*.json"):
        json.loads(path.read_text())
    return time.perf_counter() - start


def open_page(browser: Chromium, url: str, ready: str) -> tuple[float, float | None]:
    """Wall seconds from navigation to `ready` being true, and the page's own `ready` mark in seconds."""
    page = browser.open()
    start = time.perf_counter()
    page.navigate(url)
    page.wait_for(ready, timeout=60, interval=0.005)
    wall = time.perf_counter() - start
    mark = page.evaluate("(performance.getEntriesByName('ready')[0] || {}).startTime ?? null")
    errors = page.console_errors()
    if errors:
        raise SystemExit(f"console errors while opening {url}: {errors}")
    page.call("Page.close")
    return wall, (mark / 1000 if mark is not None else None)


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
            t = time.perf_counter()
            make_run(run_dir, RunSpec(latents_per_hookpoint=opts.latents // 2, n_train=40, n_test=50, n_negatives=50,
                                      ctx=32, failed={("layers.3", 7)}))
            print(f"generated {opts.latents} latents in {time.perf_counter() - t:.1f} s")
        base = [read_all_json(run_dir) for _ in range(opts.repeats)]
        write, write_cpu = [], []
        for _ in range(opts.repeats):
            t, c = time.perf_counter(), _cpu()
            path = write_report(run_dir)
            write.append(time.perf_counter() - t)
            write_cpu.append(_cpu() - c)
        blank = Path(tmp) / "blank.html"
        blank.write_text("<!DOCTYPE html><title>blank</title><script>document.documentElement.dataset.ready='1'</script>")
        ready = "document.documentElement && document.documentElement.dataset.ready === '1'"
        with Chromium(timeout=120) as browser:
            open_page(browser, blank.as_uri(), ready)  # warm the browser up once
            blank_open = [open_page(browser, blank.as_uri(), ready)[0] for _ in range(opts.repeats)]
            opened = [open_page(browser, path.as_uri(), ready) for _ in range(opts.repeats)]
        size_mb = path.stat().st_size / 1e6
    med = statistics.median
    wall, mark = med(o[0] for o in opened), med(o[1] for o in opened)
    print(f"report.html: {size_mb:.1f} MB for {opts.latents} latents; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'measure':<44} {'median s':>9} {'baseline s':>11} {'ratio':>7}")
    print(f"{'write_report vs json.load of every file':<44} {med(write):>9.2f} {med(base):>11.2f} {med(write) / med(base):>7.2f}")
    print(f"{'write_report, CPU time incl. worker processes':<44} {med(write_cpu):>9.2f}")
    print(f"{'open to ready (wall) vs blank page':<44} {wall:>9.2f} {med(blank_open):>11.3f} {wall / med(blank_open):>7.1f}")
    print(f"{'open to ready (page mark, from navigation)':<44} {mark:>9.2f}")
    ok = med(write) < 10 and wall < 3
    print(f"targets (write < 10 s, open < 3 s): {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
