"""The interpret stage: records -> explanations -> scores -> results, summary, report and MLflow.

`interpret(run_dir, config)` runs it on an existing run folder; `InterpretConfig` holds its settings.
"""

from autointerp.pipeline.config import InterpretConfig

__all__ = ["InterpretConfig", "interpret"]


def __getattr__(name: str):
    """`interpret` is imported on first use, keeping `import autointerp.pipeline` light."""
    if name == "interpret":
        from autointerp.pipeline.run import interpret

        return interpret
    raise AttributeError(name)
