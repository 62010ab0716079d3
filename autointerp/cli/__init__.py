"""`autointerp` command line: a cheap dispatcher in front of the commands.

    autointerp predict|fit|validate|test ...   `autointerp.cli.predict` (AutoInterpCLI, a LightningCLI)
    autointerp interpret|report ...            `autointerp.cli.interpret` (no Lightning import)
    autointerp calibrate ...                   `autointerp.cli.calibrate` (the same, with known-answer latents)
    autointerp export ...                      `autointerp.cli.export` (no Lightning import)
    autointerp MODEL SPARSE_MODEL [flags]      `autointerp.cli.flat` (the spec's flat command; also
                                               python -m autointerp), which builds a predict config
                                               and runs it through the same LightningCLI

Imports point one way: this module imports the others lazily; `flat`, `predict` and `interpret`
share `common`; `flat` reaches `predict` only to run. Lightning is imported only where needed, so
`--help` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any

from autointerp.cli.common import exit_on_sigterm, interpret_switch, reporting_failures

LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")

OTHER_SUBCOMMANDS = ("interpret", "calibrate", "report", "export")

USAGE = """usage: autointerp {predict,interpret,calibrate,report,export,fit,validate,test} [--config FILE] [options]
       autointerp MODEL SPARSE_MODEL [flags]     (the flat command; also python -m autointerp)

Explain and score the latents of sparse autoencoders and transcoders with LLMs.

subcommands:
  predict    cache SAE latents of a subject model over a dataset (Lightning's predict loop), then
             explain and score them (the config's `interpret:` section; `--interpret false` skips it)
             e.g. autointerp predict --config configs/quickstart.yaml
  interpret  explain and score the latents of an existing run again (finished latents are skipped)
             e.g. autointerp interpret --config configs/quickstart.yaml --name quickstart
  calibrate  explain and score known-answer latents of an existing run beside its real ones: how far the
             judge can be trusted, e.g. autointerp calibrate --config configs/quickstart.yaml --name quickstart
  report     write results/NAME/report.html, e.g. autointerp report --name quickstart
  export     write a run in Neuronpedia's export layout,
             e.g. autointerp export --name quickstart --format neuronpedia --out exports/quickstart
  fit        train a model with Lightning's fit loop (e.g. a TopK SAE: configs/train-sae.yaml)
  validate, test
             Lightning's validate/test loops

Every command takes --results_dir (default: results) and --name: a run lives in RESULTS_DIR/NAME.
`autointerp SUBCOMMAND --help` lists every option; `--print_config` shows the resolved config.
`autointerp MODEL SPARSE_MODEL --help` lists the flat command's flags (the spec's parameter reference).
"""

__all__ = ["USAGE", "interpret_switch", "main"]


def __getattr__(name: str) -> Any:
    """`AutoInterpCLI` loads lazily (it imports lightning)."""
    if name == "AutoInterpCLI":
        from autointerp.cli.predict import AutoInterpCLI

        return AutoInterpCLI
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `autointerp` console script and `python -m autointerp`."""
    exit_on_sigterm()
    from_sys = argv is None
    argv = list(sys.argv[1:] if from_sys else argv)
    if argv and argv[0] in LIGHTNING_SUBCOMMANDS:
        from autointerp.cli.predict import run

        argv = interpret_switch(argv)
        if from_sys:
            sys.argv[1:] = argv
        return reporting_failures(lambda: run(None if from_sys else argv))  # None: LightningCLI reads sys.argv
    if argv and argv[0] == "interpret":
        from autointerp.cli.interpret import interpret_main

        return interpret_main(argv[1:])
    if argv and argv[0] == "calibrate":
        from autointerp.cli.calibrate import calibrate_main

        return calibrate_main(argv[1:])
    if argv and argv[0] == "report":
        from autointerp.cli.interpret import report_main

        return report_main(argv[1:])
    if argv and argv[0] == "export":
        from autointerp.cli.export import export_main

        return export_main(argv[1:])
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    from autointerp.cli.flat import main as flat_main  # MODEL SPARSE_MODEL [flags], flags in any order

    return flat_main(argv)
