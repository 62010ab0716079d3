"""MLflow: one MLflow run per autointerp run, with the config, every summary metric and the outputs.

The run id is kept in `results/<name>/mlflow_run.json`, so predict (Lightning's MLFlowLogger),
interpret and a later `autointerp interpret` all log into the same MLflow run. mlflow is imported
only here, and only when logging is on.
"""

from __future__ import annotations

import csv
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

from autointerp.io import read_json, write_json
from autointerp.pipeline import comparison_metrics
from autointerp.pipeline.outputs import RunPaths
from autointerp.records import Latent

logger = logging.getLogger(__name__)
MAX_PARAM_LEN = 500


DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
"""MLflow 3's UI opens an experiment without this tag in its GenAI (traces) view; this opens the runs table."""
HEADLINE_PREFIX = "Headline"
"""Headline metrics are logged again under this prefix: capitals sort before every other (lower-case)
metric key, so the runs table shows them as its first metric columns."""
HEADLINE_METRICS = ("balanced_accuracy", "auroc", "correlation", "f1", "accuracy")
"""A scorer's headline metric: the first of these it reports (as the report chooses)."""


def resolve_tracking_uri(tracking_uri: str | None) -> str:
    """The configured URI, else $MLFLOW_TRACKING_URI, else the local sqlite store."""
    import os

    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def flatten(data: dict[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested dicts to one level: {"a": {"b": 1}} -> {"a.b": 1}."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name, sep))
        else:
            out[name] = value
    return out


def summary_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """Every number of the summary as an MLflow metric: `detection/layers.15/balanced_accuracy` is the
    mean; `..._ci_low`, `..._ci_high`, `..._chance`, `..._n`, `..._itt` sit beside it, the lift over
    the shuffled control as `..._vs_shuffled_lift` (with its interval), coverage as `detection/coverage`."""
    out: dict[str, float] = {}
    for hp, by_scorer in summary["per_hookpoint"].items():
        for scorer, metrics in by_scorer.items():
            for metric, m in metrics.items():
                base = f"{scorer}/{hp}/{metric}"
                out[base] = m["mean"]
                for key, value in m.items():  # ci_low, ci_high, chance, n, n_nan, itt, ...
                    if key != "mean":
                        out[f"{base}_{key}"] = value
    for hp, by_scorer in (summary.get("shuffled_baseline") or {}).items():
        for scorer, metrics in by_scorer.items():
            for metric, m in metrics.items():  # shuffled, lift, lift_ci_low, lift_ci_high, n
                for key, value in m.items():
                    out[f"{scorer}/{hp}/{metric}_vs_shuffled_{key}"] = value
    for scorer, counts in (summary.get("scorer_counts") or {}).items():
        for key, value in counts.items():
            out[f"{scorer}/{key}"] = value
    for hp, by_scorer in summary.get("high_quality", {}).items():
        for scorer, count in by_scorer.items():
            out[f"{scorer}/{hp}/n_high_quality"] = count
    out.update({f"counts/{k}": v for k, v in summary["counts"].items()})
    out.update(flatten(summary.get("usage", {}), "usage", "/"))
    out.update(flatten(summary.get("usage_total", {}), "usage_total", "/"))
    out.update(flatten(summary.get("timing_s", {}), "timing_s", "/"))
    out.update(flatten(summary.get("cache", {}), "cache", "/"))
    out.update(flatten(summary.get("llm_server", {}), "llm_server", "/"))
    out.update(headline_metrics(summary))
    out.update(comparison_metrics.lift_metrics(summary.get("baseline_explainer")))
    out.update(comparison_metrics.agreement_metrics(summary.get("judge_agreement")))
    from autointerp.pipeline.calibration_verdict import calibration_metrics

    out.update(calibration_metrics(summary.get("calibration")))
    # MLflow refuses "@" in names: `detection@top-tokens` is logged as `detection:top-tokens`
    return {k.replace("@", ":"): float(v) for k, v in out.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def headline_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """`Headline/<scorer>/<hookpoint>/<metric>`: each scorer's headline mean, one column per scorer and hookpoint."""
    out: dict[str, float] = {}
    for hp, by_scorer in summary["per_hookpoint"].items():
        for scorer, metrics in by_scorer.items():
            name = next((m for m in HEADLINE_METRICS if m in metrics and metrics[m].get("mean") is not None), None)
            if name is not None:
                out[f"{HEADLINE_PREFIX}/{scorer}/{hp}/{name}"] = metrics[name]["mean"]
    return out


def tag_experiment(client: Any, experiment_id: str) -> None:
    """Mark the experiment as model development, so MLflow's UI opens it on the runs table."""
    key, value = EXPERIMENT_KIND
    client.set_experiment_tag(experiment_id, key, value)


def params(config: dict[str, Any]) -> dict[str, str]:
    """The config as MLflow params (flattened, long values cut)."""
    return {k: str(v)[:MAX_PARAM_LEN] for k, v in flatten(config).items()}


def tags(summary: dict[str, Any]) -> dict[str, str]:
    """Tags that line runs up in MLflow's compare view."""
    keys = ("name", "model", "sparse_model", "explainer_model")
    out = {f"autointerp.{k}": str(summary.get(k, "")) for k in keys}
    for key in ("explainer_model_sha256", "explainer_model_requested"):  # only when there is one
        if summary.get(key):
            out[f"autointerp.{key}"] = str(summary[key])
    out["autointerp.scorers"] = ",".join(summary.get("scorers", []))
    out["autointerp.hookpoints"] = ",".join(summary.get("hookpoints", []))
    if summary.get("calibration"):  # the judge's calibration, in words, on the runs table
        out["autointerp.calibration_verdict"] = summary["calibration"]["verdict"][:4900]
    return out


def explanation_table(paths: RunPaths, path: Path, scorers: list[str]) -> None:
    """A CSV with one row per latent: explanation (or error) and each scorer's headline numbers."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["hookpoint", "latent", "explanation", "error", *[f"{s}/{m}" for s in scorers for m in ("f1", "balanced_accuracy")]])
        for file in paths.explanation_files():
            data = read_json(file) or {}
            hp, index = data["latent"]["hookpoint"], data["latent"]["index"]
            text = (data.get("explanation") or {}).get("text")
            cells = []
            for s in scorers:
                metrics = (read_json(paths.score(s, Latent(hp, index))) or {}).get("metrics") or {}
                cells += [metrics.get("f1"), metrics.get("balanced_accuracy")]
            writer.writerow([hp, index, text, data.get("error"), *cells])


def known_run_id(paths: RunPaths) -> str | None:
    """The MLflow run id this run logs into, if one was started before."""
    data = read_json(paths.mlflow_run)
    return data.get("run_id") if data else None


def log_run(
    paths: RunPaths, config: dict[str, Any], summary: dict[str, Any], tracking_uri: str, experiment: str,
    run_id: str | None = None,
) -> str:
    """Log config, metrics, tags and artifacts into the run's MLflow run (created if new); return its id."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    run_id = run_id or known_run_id(paths)
    if run_id is None:
        exp = client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
        run_id = client.create_run(exp_id, run_name=summary.get("name")).info.run_id
    tag_experiment(client, client.get_run(run_id).info.experiment_id)
    write_json(paths.mlflow_run, {"run_id": run_id, "tracking_uri": tracking_uri, "experiment": experiment})
    existing = client.get_run(run_id).data.params
    new_params = {k: v for k, v in params(config).items() if k not in existing}  # MLflow params are immutable
    _log_batch(client, run_id, summary_metrics(summary), new_params, tags(summary))
    _log_artifacts(client, run_id, paths, summary)
    client.set_terminated(run_id)
    return run_id


def _log_batch(client: Any, run_id: str, metrics: dict[str, float], params_: dict[str, str], tags_: dict[str, str]) -> None:
    import time

    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    metric_list = [Metric(k, v, now, 0) for k, v in metrics.items()]
    param_list = [Param(k, v) for k, v in params_.items()]
    for i in range(0, max(len(metric_list), len(param_list), 1), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run_id, metrics=metric_list[i : i + 100], params=param_list[i : i + 100])
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags_.items()])


def _log_artifacts(client: Any, run_id: str, paths: RunPaths, summary: dict[str, Any]) -> None:
    for path in (paths.run_config, paths.summary, paths.report, paths.specialization("csv")):
        if path.is_file():
            client.log_artifact(run_id, str(path))
    plots = paths.plots
    if plots.is_dir():
        client.log_artifacts(run_id, str(plots), "plots")
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "explanations.csv"
        explanation_table(paths, table, summary.get("scorers", []))
        client.log_artifact(run_id, str(table))
