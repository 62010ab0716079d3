"""`autointerp export --name NAME --format neuronpedia --out DIR`: write a finished run in another tool's format.

No Lightning, torch or transformers import: it only reads the run folder's JSON files.
"""

from __future__ import annotations

import argparse
import sys

from autointerp.cli.common import RESULTS_DIR


def export_parser() -> argparse.ArgumentParser:
    """The `autointerp export` arguments."""
    from autointerp.export import BATCH_SIZE, FORMATS

    p = argparse.ArgumentParser(
        prog="autointerp export",
        description="Write a finished run (<results_dir>/NAME) in the layout of Neuronpedia's public exports: "
        "OUT/config/*.jsonl and OUT/<modelId>/<sourceId>/{model,source,sourceset,release}.jsonl with "
        "features/, activations/, explanations/ and explanation_scores/ as batch-N.jsonl.gz.",
    )
    p.add_argument("--name", required=True, help="the run's name: its folder under --results_dir")
    p.add_argument("--results_dir", default=RESULTS_DIR, help=f"folder holding the runs (default: {RESULTS_DIR})")
    p.add_argument("--format", required=True, help=f"the format to write: {', '.join(FORMATS)}")
    p.add_argument("--out", required=True, help="the folder to write (replaced as a whole, only with --overwrite when not empty)")
    p.add_argument("--overwrite", action="store_true", help="replace --out when it already holds files")
    p.add_argument("--model_id", default=None, help="Neuronpedia model id (default: from the run's model, e.g. smollm2-135m-instruct)")
    p.add_argument("--source_set", default=None,
                   help="Neuronpedia source set name; the source id is <layer>-<source_set> (default: <kind>-<width>, e.g. res-16k)")
    p.add_argument("--release", default=None, help="Neuronpedia release name (default: autointerp-<name>)")
    p.add_argument("--creator_name", default="autointerp", help="creatorName of the release and source set")
    p.add_argument("--batch_size", type=int, default=BATCH_SIZE, help=f"latents per batch file (default: {BATCH_SIZE})")
    return p


def export_main(argv: list[str] | None = None) -> int:
    """Write the export and print where; 0 for --help, 2 for a bad setting or a missing run."""
    try:
        args = export_parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a bad argument (2): return the status instead of exiting
        return int(stop.code or 0)
    from autointerp.export import ExportOptions, export_run
    from autointerp.run_folder import RunPaths

    try:
        if args.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {args.batch_size}")
        run_dir = RunPaths.for_run(args.results_dir, args.name).root
        options = ExportOptions(model_id=args.model_id, source_set=args.source_set, release=args.release,
                                creator_name=args.creator_name, batch_size=args.batch_size)
        counts = export_run(run_dir, args.out, args.format, args.overwrite, options)
    except (FileNotFoundError, ValueError) as exc:
        print(f"autointerp export: error: {_with_flag(str(exc))}", file=sys.stderr)
        return 2
    print(", ".join(f"{n} {kind}" for kind, n in counts.items()) + f" written to {args.out}/")
    return 0


def _with_flag(message: str) -> str:
    """`format: ...` -> `--format: ...`, so the message names the flag the user typed."""
    head, sep, rest = message.partition(":")
    if sep and head.replace("_", "").isalpha() and " " not in head:
        return f"--{head}:{rest}"
    return message
