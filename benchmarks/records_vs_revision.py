"""Record building of this tree against an earlier git revision, interleaved in one run.

    .venv/bin/python benchmarks/records_vs_revision.py REVISION [--rounds 3] [--latents 1000] [--rows 500]

The shared machine's load moves by 2-3x within minutes, so a figure measured an hour ago is no
baseline. This script writes the small and the 4x-rows caches of `records.py` once, extracts
`autointerp/` of REVISION with `git archive`, and then alternates: one child process per round
and per tree builds the first `--latents` records of both caches (random negatives, default
config) and reports CPU seconds (`time.process_time`, best of 2 passes). It prints, per cache,
the best round of each tree and the ratio new / old of their rates.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
import autointerp
assert autointerp.__file__.startswith(sys.argv[1]), autointerp.__file__
from autointerp.examples import ExamplesConfig, RecordBuilder
from autointerp.latents import CacheReader
out = {}
for folder in sys.argv[3:]:
    builder = RecordBuilder(CacheReader(Path(folder)), ExamplesConfig())
    latents = builder.select_latents(max_latents=int(sys.argv[2]))
    builder.build(latents[0])
    best = float("inf")
    for _ in range(2):
        start = time.process_time()
        records = [builder.build(lat) for lat in latents]
        best = min(best, time.process_time() - start)
    out[folder] = {"cpu": best, "built": sum(r is not None for r in records)}
print(json.dumps(out))
"""


def extract(revision: str, into: Path) -> Path:
    """`autointerp/` of the revision, unpacked under `into`."""
    command = ["git", "archive", revision, "autointerp"]
    archive = subprocess.run(command, cwd=REPO, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_child(root: Path, latents: int, caches: list[Path]) -> dict:
    """CPU seconds per cache for one tree, in a fresh process."""
    args = [sys.executable, "-c", CHILD, str(root), str(latents), *map(str, caches)]
    done = subprocess.run(args, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Write the caches, alternate the two trees, print the best rates and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("revision")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latents", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=500)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "benchmarks"))
    from records import make_cache

    print("load average at start (1, 5, 15 min): %.1f %.1f %.1f" % os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        caches = [root / "small", root / "4x rows"]
        for folder, rows in zip(caches, (args.rows, 4 * args.rows)):
            make_cache(folder, rows)
        trees = {"old": extract(args.revision, root / "old"), "new": REPO}
        best: dict[tuple[str, Path], dict] = {}
        start = time.perf_counter()
        for _ in range(args.rounds):
            for name, tree in trees.items():
                for folder, figures in run_child(tree, args.latents, caches).items():
                    key = (name, Path(folder))
                    if key not in best or figures["cpu"] < best[key]["cpu"]:
                        best[key] = figures
        print(f"{args.rounds} rounds in {time.perf_counter() - start:.0f} s wall")
        for folder in caches:
            old, new = best[("old", folder)], best[("new", folder)]
            for name, f in (("old", old), ("new", new)):
                print(f"[{folder.name}] {name} ({args.revision if name == 'old' else 'working tree'}): "
                      f"{args.latents / f['cpu']:.0f} latents per CPU second, {f['built'] / f['cpu']:.0f} records per CPU second")  # fmt: skip
            print(f"[{folder.name}] new / old: {old['cpu'] / new['cpu']:.2f}x")
    print("load average at end (1, 5, 15 min): %.1f %.1f %.1f" % os.getloadavg())


if __name__ == "__main__":
    main()
