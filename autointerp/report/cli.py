"""`autointerp report --name NAME [--results_dir results]`: (re)write a run's report."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    p = argparse.ArgumentParser(
        prog="autointerp report",
        description="Write results/<name>/report.html (one self-contained page) and plots/*.svg from a finished run.",
    )
    p.add_argument("--name", required=True, help="the run's name: its folder under --results_dir")
    p.add_argument("--results_dir", default="results", help="folder holding the runs (default: results)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write the report, print its path; 2 for bad arguments or a missing run folder."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a bad argument (2): return the status instead of exiting
        return int(stop.code or 0)
    run_dir = Path(args.results_dir) / args.name
    if not run_dir.is_dir():
        print(f"autointerp report: no run folder {run_dir} (check --name and --results_dir)", file=sys.stderr)
        return 2
    from autointerp.report.render import write_report

    path = write_report(run_dir)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
