"""`autointerp interpret` and `autointerp report`: work on an existing run, without importing Lightning.

`autointerp interpret --config FILE --name NAME` reads the same YAML as `autointerp predict` (its
`interpret:` section; the Lightning sections are accepted and ignored) and reruns the interpret
stage on `<results_dir>/NAME`. `autointerp report --name NAME` rewrites that run's report.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from autointerp.cli.common import RESULTS_DIR, setup_logging, use_attribute_docstrings

LIGHTNING_KEYS = ("seed_everything", "trainer", "model", "data", "ckpt_path", "return_predictions", "optimizer", "lr_scheduler",
                  "flush_tokens")
"""Sections of a predict config that `interpret` accepts and ignores."""


def interpret_parser():
    """The `autointerp interpret` argument parser (jsonargparse, the same types as the predict route)."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    use_attribute_docstrings()
    from autointerp.pipeline.config import InterpretConfig

    parser = ArgumentParser(
        prog="autointerp interpret",
        description="Explain and score the latents of an existing run (<results_dir>/NAME/latents), then write the "
        "summary and report and log to MLflow. Finished latents are skipped unless --interpret.overwrite names them.",
        default_env=False,
    )
    parser.add_argument("--config", action=ActionConfigFile, help="A YAML config (the same file `autointerp predict` takes).")
    parser.add_argument("--name", type=str, required=True, help="The run to interpret: <results_dir>/NAME.")
    parser.add_argument("--results_dir", type=str, default=RESULTS_DIR, help="Folder holding the runs.")
    parser.add_dataclass_arguments(InterpretConfig, "interpret", help="Settings of the interpret stage.")
    for key in LIGHTNING_KEYS:
        parser.add_argument(f"--{key}", type=Any, default=None, help="Accepted from a predict config and ignored here.")
    return parser


def interpret_main(argv: list[str]) -> int:
    """Run `autointerp interpret`."""
    parser = interpret_parser()
    return run_interpret(parser, parser.parse_args(argv))


def run_interpret(parser: Any, cfg: Any, prog: str = "autointerp interpret") -> int:
    """Instantiate the parsed config and run the interpret stage on the named run; print the results table."""
    try:
        config = parser.instantiate_classes(cfg).interpret
    except ValueError as exc:  # a setting the config validation refused; the message names it
        parser.error(str(exc))
    from autointerp.pipeline.outputs import RunPaths

    try:
        run_dir = RunPaths.for_run(cfg.results_dir, cfg.name).root
    except ValueError as exc:
        parser.error(str(exc))
    run_config = _run_config(run_dir, parser.dump(cfg, skip_none=False, format="json"))
    setup_logging()
    from autointerp.pipeline.run import interpret
    from autointerp.pipeline.stage import RunFailedError
    from autointerp.pipeline.summary import results_table

    try:
        summary = interpret(run_dir, config, run_config)
    except (FileNotFoundError, ValueError) as exc:  # no cache, a bad reference run, an unknown scorer
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except RunFailedError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    print(results_table(summary))
    print(f"results in {run_dir}/ (report: {run_dir / 'report.html'})")
    return 0


def _run_config(run_dir: Any, dumped: str) -> dict[str, Any]:
    """The resolved config of this invocation, merged over the run's earlier one (predict's sections stay)."""
    import json

    from autointerp.io import read_json
    from autointerp.run_folder import RunPaths

    now = {k: v for k, v in json.loads(dumped).items() if k not in LIGHTNING_KEYS or v is not None}
    now.pop("config", None)
    return {**(read_json(RunPaths(run_dir).run_config) or {}), **now}


def report_parser() -> argparse.ArgumentParser:
    """The `autointerp report` arguments."""
    p = argparse.ArgumentParser(
        prog="autointerp report",
        description="Write <results_dir>/<name>/report.html (one self-contained page) and plots/*.svg from a finished run.",
    )
    p.add_argument("--name", required=True, help="the run's name: its folder under --results_dir")
    p.add_argument("--results_dir", default=RESULTS_DIR, help=f"folder holding the runs (default: {RESULTS_DIR})")
    return p


def report_main(argv: list[str] | None = None) -> int:
    """Write the report, print its path; 0 for --help, 2 for bad arguments or a missing run folder."""
    try:
        args = report_parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a bad argument (2): return the status instead of exiting
        return int(stop.code or 0)
    from autointerp.pipeline.outputs import RunPaths

    try:
        run_dir = RunPaths.for_run(args.results_dir, args.name).root
    except ValueError as exc:
        print(f"autointerp report: {exc}", file=sys.stderr)
        return 2
    if not run_dir.is_dir():
        print(f"autointerp report: no run folder {run_dir} (check --name and --results_dir)", file=sys.stderr)
        return 2
    from autointerp.report import write_report

    print(write_report(run_dir))
    return 0
