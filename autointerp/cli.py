"""`autointerp` command line: a cheap dispatcher in front of the Lightning CLI.

`autointerp predict --config configs/quickstart.yaml` (and `fit`, `validate`, `test`) run
`AutoInterpCLI` (a LightningCLI; see `autointerp.lightning_cli`). Lightning is imported only when
one of those subcommands runs, so `autointerp --help` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any

LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")

USAGE = """usage: autointerp {fit,validate,test,predict} [--config FILE] [options]

Explain and score the latents of sparse autoencoders and transcoders with LLMs.

subcommands:
  predict    cache SAE latents of a subject model over a dataset (Lightning's predict loop)
             e.g. autointerp predict --config configs/quickstart.yaml --name quickstart
  fit        train a model with Lightning's fit loop (e.g. a TopK SAE: configs/train-sae.yaml)
  validate, test
             Lightning's validate/test loops

`autointerp SUBCOMMAND --help` lists every option; `--print_config` shows the resolved config.
"""


def __getattr__(name: str) -> Any:
    """`AutoInterpCLI` loads lazily (it imports lightning)."""
    if name == "AutoInterpCLI":
        from autointerp.lightning_cli import AutoInterpCLI

        return AutoInterpCLI
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `autointerp` console script and `python -m autointerp`."""
    from_sys = argv is None
    argv = list(sys.argv[1:] if from_sys else argv)
    if argv and argv[0] in LIGHTNING_SUBCOMMANDS:
        from autointerp.lightning_cli import run

        run(None if from_sys else argv)  # None: LightningCLI reads sys.argv (and DDP relaunches it)
        return 0
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    print(USAGE, file=sys.stderr)
    print(f"autointerp: unknown subcommand {argv[0]!r}", file=sys.stderr)
    return 2
