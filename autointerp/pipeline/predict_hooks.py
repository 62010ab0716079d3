"""How `autointerp predict` reaches the interpret stage: the `interpret:` config section, the
interpret-after-predict callback, and reusing a finished cache.

Used by `autointerp.lightning_cli.AutoInterpCLI`; kept here so the CLI stays short.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from autointerp.pipeline.config import InterpretConfig

logger = logging.getLogger(__name__)


def add_interpret_argument(parser: Any) -> None:
    """`--interpret.*`: the interpret stage's settings; without an `interpret:` section predict only caches."""
    parser.add_argument(
        "--interpret", type=InterpretConfig | None, default=None,
        help="predict: explain and score the cached latents afterwards, on rank 0 (the shipped configs all have "
        "this section; `--interpret false` stops after the cache). See `autointerp interpret --help` for each field.",
    )


def interpret_config(cli: Any) -> InterpretConfig | None:
    """The instantiated interpret section, or None when absent or disabled."""
    config = cli._get(cli.config_init, "interpret")
    if config is None or not config.enabled:
        return None
    return config


def resolved_config(cli: Any) -> dict[str, Any]:
    """The full resolved config of this invocation, as plain JSON-ready data."""
    parser = cli._parser(cli.subcommand)
    return json.loads(parser.dump(cli.config[cli.subcommand], format="json", skip_none=False, skip_check=True))


def interpret_callbacks(cli: Any, name: str) -> list[Any]:
    """[InterpretAfterPredict] when the config asks for the interpret stage, else []."""
    config = interpret_config(cli)
    if config is None:
        return []
    from autointerp.lightning_cli import run_dir
    from callbacks.interpret import InterpretAfterPredict

    return [InterpretAfterPredict(str(run_dir(name)), config, resolved_config(cli))]


def reuse_cache(cli: Any, model: Any) -> bool:
    """Interpret an existing cache instead of predicting again, when it matches; True when it did."""
    config = interpret_config(cli)
    if config is None or "cache" in config.overwrite:
        return False
    from autointerp.latents.format import MANIFEST
    from autointerp.lightning_cli import run_dir
    from autointerp.io import read_json

    name = cli._get(cli.config, "name")
    manifest = read_json(run_dir(name) / "latents" / MANIFEST)
    if manifest is None:
        return False
    wanted = {"model": model.model_name, "sparse_model": model.sparse_model, "hookpoints": list(model.hookpoints)}
    found = {k: manifest.get(k) for k in wanted}
    if found != wanted:
        raise ValueError(
            f"results/{name}/latents holds a cache of {found}, not {wanted}: use another --name, or add "
            "--interpret.overwrite [cache] to replace it"
        )
    logger.info("results/%s/latents already holds this cache: interpreting it (overwrite=[cache] remakes it)", name)
    if cli.trainer.is_global_zero:
        from autointerp.pipeline.run import interpret

        cli.interpret_summary = interpret(run_dir(name), config, resolved_config(cli))
    return True


def print_results(cli: Any) -> None:
    """Print the results table of the interpret stage that ran in this process (the CLI's end of run)."""
    summaries = [getattr(cli, "interpret_summary", None)]
    summaries += [getattr(cb, "summary", None) for cb in cli.trainer.callbacks if type(cb).__name__ == "InterpretAfterPredict"]
    summary = next((s for s in summaries if s is not None), None)
    if summary is None:
        return
    from autointerp.pipeline.summary import results_table

    print(results_table(summary))
    print(f"results in results/{summary['name']}/ (report: results/{summary['name']}/report.html)")
