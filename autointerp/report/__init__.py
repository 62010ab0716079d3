"""The run report: one self-contained HTML page (`report.html`) and SVG plots from a run folder.

    from autointerp.report import write_report
    write_report(Path("results/my-run"))       # -> results/my-run/report.html, plots/*.svg

`autointerp report --name NAME [--results_dir results]` (`autointerp.cli.interpret.report_main`) calls
`write_report`. Nothing here imports torch, lightning or mlflow.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_report"]


def write_report(run_dir: str | Path, workers: int | None = None) -> Path:
    """Write `<run_dir>/report.html` and `<run_dir>/plots/*.svg`; returns the report's path.

    `workers`: processes that read the latents of runs with 200 latents or more (default: one per
    CPU, at most 4; 1 reads everything in this process).
    """
    from autointerp.report.render import write_report as write

    return write(run_dir, workers=workers)
