"""`autointerp` command line: a cheap dispatcher in front of the Lightning CLI.

`autointerp predict --config configs/quickstart.yaml` (and `fit`, `validate`, `test`) run
`AutoInterpCLI` (a LightningCLI; see `autointerp.lightning_cli`). `autointerp interpret` and
`autointerp report` work on an existing run without Lightning. `python -m autointerp MODEL SAE
[flags]` is the spec's flat command (`autointerp.flat_cli`), which builds a predict config and runs
it through the same LightningCLI. Lightning is imported only where needed, so `--help` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any

LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")

OTHER_SUBCOMMANDS = ("interpret", "report")

USAGE = """usage: autointerp {predict,interpret,report,fit,validate,test} [--config FILE] [options]
       autointerp MODEL SPARSE_MODEL [flags]     (the flat command; also python -m autointerp)

Explain and score the latents of sparse autoencoders and transcoders with LLMs.

subcommands:
  predict    cache SAE latents of a subject model over a dataset (Lightning's predict loop), then
             explain and score them (the config's `interpret:` section; `--interpret false` skips it)
             e.g. autointerp predict --config configs/quickstart.yaml
  interpret  explain and score the latents of an existing run again (finished latents are skipped)
             e.g. autointerp interpret --config configs/quickstart.yaml --name quickstart
  report     write results/NAME/report.html, e.g. autointerp report --name quickstart
  fit        train a model with Lightning's fit loop (e.g. a TopK SAE: configs/train-sae.yaml)
  validate, test
             Lightning's validate/test loops

`autointerp SUBCOMMAND --help` lists every option; `--print_config` shows the resolved config.
`autointerp MODEL SPARSE_MODEL --help` lists the flat command's flags (the spec's parameter reference).
"""


def __getattr__(name: str) -> Any:
    """`AutoInterpCLI` loads lazily (it imports lightning)."""
    if name == "AutoInterpCLI":
        from autointerp.lightning_cli import AutoInterpCLI

        return AutoInterpCLI
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `autointerp` console script and `python -m autointerp`."""
    exit_on_sigterm()
    from_sys = argv is None
    argv = list(sys.argv[1:] if from_sys else argv)
    if argv and argv[0] in LIGHTNING_SUBCOMMANDS:
        from autointerp.lightning_cli import run

        argv = interpret_switch(argv)
        if from_sys:
            sys.argv[1:] = argv
        return _reporting_failures(lambda: run(None if from_sys else argv))  # None: LightningCLI reads sys.argv
    if argv and argv[0] == "interpret":
        from autointerp.interpret_cli import interpret_main

        return interpret_main(argv[1:])
    if argv and argv[0] == "report":
        from autointerp.interpret_cli import report_main

        return report_main(argv[1:])
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    from autointerp.flat_cli import main as flat_main  # MODEL SPARSE_MODEL [flags], flags in any order

    return flat_main(argv)


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


def _reporting_failures(fn: Any) -> int:
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


def run_predict_config(config: dict[str, Any]) -> int:
    """Run `autointerp predict` on a config dict (the flat command's route into the YAML route).

    The dict travels as a config string, so a DDP relaunch of this command line sees the same config."""
    import json

    from autointerp.lightning_cli import run

    args = ["predict", "--config", json.dumps(config)]
    sys.argv[1:] = args
    return _reporting_failures(lambda: run(None))
