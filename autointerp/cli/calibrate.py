"""`autointerp calibrate`: known-answer latents on an existing run, to tell how far its judge can be trusted.

It takes the same arguments as `autointerp interpret` (the run's config and name) and runs the same
stage with `interpret.calibration` set (`--n`, else the config's value, else `DEFAULT_N`). Finished
real latents are skipped as on any rerun, so on a finished run only the known-answer latents cost
LLM calls. The printed table ends with the judge's figures on known-answer latents beside the real
latents' and the verdict; the summary, report and MLflow run carry the same.
"""

from __future__ import annotations

from autointerp.cli.interpret import interpret_parser, run_interpret

DEFAULT_N = 8
"""Known-answer latents when neither --n nor the config says how many."""


def calibrate_parser():
    """`autointerp interpret`'s parser, plus --n."""
    parser = interpret_parser()
    parser.prog = "autointerp calibrate"
    parser.description = ("Explain and score known-answer latents (synthetic latents that fire exactly on month names, "
                          "digits, a frequent word, a punctuation mark, the word after a given word, -ing words of the "
                          "run's own text) with the run's LLM settings, beside its real latents; print the judge's "
                          "scores on them and a verdict on how far its scores on real latents can be trusted.")
    parser.add_argument("--n", type=int, default=None,
                        help=f"Known-answer latents (default: the config's interpret.calibration, else {DEFAULT_N}).")
    return parser


def calibrate_main(argv: list[str]) -> int:
    """Run `autointerp calibrate`."""
    parser = calibrate_parser()
    cfg = parser.parse_args(argv)
    n = cfg.n if cfg.n is not None else (cfg.interpret.calibration or DEFAULT_N)
    if n < 1:
        parser.error(f"--n must be at least 1, got {n}")
    cfg.interpret.calibration = n
    del cfg.n  # not an interpret setting: the saved run config stays one `interpret` reads
    return run_interpret(parser, cfg, parser.prog)
