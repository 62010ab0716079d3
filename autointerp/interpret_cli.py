"""`autointerp interpret` and `autointerp report`: work on an existing run, without importing Lightning.

`autointerp interpret --config FILE --name NAME` reads the same YAML as `autointerp predict` (its
`interpret:` section; the Lightning sections are accepted and ignored) and reruns the interpret
stage on `results/NAME`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

LIGHTNING_KEYS = ("seed_everything", "trainer", "model", "data", "ckpt_path", "return_predictions", "optimizer", "lr_scheduler")
"""Sections of a predict config that `interpret` accepts and ignores."""


def use_attribute_docstrings() -> None:
    """Let `--help` show each config field's docstring."""
    from jsonargparse import set_parsing_settings

    set_parsing_settings(docstring_parse_attribute_docstrings=True)


def interpret_parser():
    """The `autointerp interpret` argument parser (jsonargparse, the same types as the predict route)."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    use_attribute_docstrings()
    from autointerp.pipeline.config import InterpretConfig

    parser = ArgumentParser(
        prog="autointerp interpret",
        description="Explain and score the latents of an existing run (results/NAME/latents), then write the "
        "summary and report and log to MLflow. Finished latents are skipped unless --interpret.overwrite names them.",
        default_env=False,
    )
    parser.add_argument("--config", action=ActionConfigFile, help="A YAML config (the same file `autointerp predict` takes).")
    parser.add_argument("--name", type=str, required=True, help="The run to interpret: results/NAME.")
    parser.add_argument("--results_dir", type=str, default="results", help="Folder holding the runs.")
    parser.add_dataclass_arguments(InterpretConfig, "interpret", help="Settings of the interpret stage.")
    for key in LIGHTNING_KEYS:
        parser.add_argument(f"--{key}", type=Any, default=None, help="Accepted from a predict config and ignored here.")
    return parser


def interpret_main(argv: list[str]) -> int:
    """Run `autointerp interpret`."""
    parser = interpret_parser()
    cfg = parser.parse_args(argv)
    try:
        config = parser.instantiate_classes(cfg).interpret
    except ValueError as exc:  # a setting the config validation refused; the message names it
        parser.error(str(exc))
    run_dir = Path(cfg.results_dir) / cfg.name
    run_config = _run_config(run_dir, parser.dump(cfg, skip_none=False, format="json"))
    _setup_logging()
    from autointerp.pipeline.run import interpret
    from autointerp.pipeline.stage import RunFailedError
    from autointerp.pipeline.summary import results_table

    try:
        summary = interpret(run_dir, config, run_config)
    except (FileNotFoundError, ValueError) as exc:  # no cache, a bad reference run, an unknown scorer
        print(f"autointerp interpret: error: {exc}", file=sys.stderr)
        return 2
    except RunFailedError as exc:
        print(f"autointerp interpret: {exc}", file=sys.stderr)
        return 1
    print(results_table(summary))
    print(f"results in {run_dir}/ (report: {run_dir / 'report.html'})")
    return 0


def _run_config(run_dir: Path, dumped: str) -> dict[str, Any]:
    """The resolved config of this invocation, merged over the run's earlier one (predict's sections stay)."""
    import json

    from autointerp.io import read_json

    now = {k: v for k, v in json.loads(dumped).items() if k not in LIGHTNING_KEYS or v is not None}
    now.pop("config", None)
    return {**(read_json(run_dir / "run_config.json") or {}), **now}


def report_main(argv: list[str]) -> int:
    """Run `autointerp report` (the report's own command line)."""
    from autointerp.report import cli_main

    return int(cli_main(argv) or 0)


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
