"""What every command of `autointerp` shares: logging, SIGTERM handling, failure exits, `--help` docstrings."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

RESULTS_DIR = "results"
"""Where runs go by default: `<results_dir>/<name>/`."""


def use_attribute_docstrings() -> None:
    """Let `--help` show each config field's docstring, and short class names (`DetectionScorer`) resolve."""
    from jsonargparse import set_parsing_settings

    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    import_components()


def import_components() -> None:
    """Import every component class, so a short `class_path` finds it among the subclasses (cheap: no torch)."""
    import importlib

    for module in ("autointerp.clients.openai_compatible", "autointerp.clients.offline", "autointerp.explainers",
                   "autointerp.scorers", "autointerp.examples"):
        importlib.import_module(module)


def setup_logging(verbose: bool = True) -> None:
    """Log to stderr: INFO when verbose, else warnings only."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit(143) so `with`/`finally` cleanup runs (e.g. the llama.cpp server
    that `serve_gguf` started is stopped instead of left running as an orphan)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
        signal.signal(signal.SIGTERM, _raise_exit)


def _raise_exit(signum: int, frame: Any) -> None:
    """The SIGTERM handler: exit the way a shell reports a terminated process."""
    raise SystemExit(128 + signum)


def reporting_failures(fn: Callable[[], Any]) -> int:
    """Run a command; a run that failed past `max_failure_fraction` exits 1 with its message, no traceback."""
    from autointerp.pipeline.stage import RunFailedError

    try:
        fn()
    except RunFailedError as exc:
        print(f"autointerp: {exc}", file=sys.stderr)
        return 1
    return 0


def interpret_switch(argv: list[str]) -> list[str]:
    """`--interpret false|true` (and `--interpret=false`) -> `--interpret.enabled=...`; other values pass."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        value = None
        if arg == "--interpret" and i + 1 < len(argv) and argv[i + 1].lower() in ("true", "false"):
            value, i = argv[i + 1].lower(), i + 1
        elif arg.lower() in ("--interpret=true", "--interpret=false"):
            value = arg.split("=", 1)[1].lower()
        out.append(f"--interpret.enabled={value}" if value else arg)
        i += 1
    return out
