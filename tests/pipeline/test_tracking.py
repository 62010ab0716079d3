"""MLflow logging: one run per autointerp run, metrics equal to summary.json, artifacts, tags."""

from __future__ import annotations

import json

import pytest

from autointerp.examples.config import ExamplesConfig
from autointerp.pipeline.config import InterpretConfig
from autointerp.pipeline.run import Parts, interpret
from autointerp.pipeline.tracking import summary_metrics
from pipeline_fakes import CountingClient, FakeBuilder, FakeExplainer, FakeScorer, make_cache


def _parts():
    return Parts(client=CountingClient(), explainer=FakeExplainer(fail=(4,)), builder=FakeBuilder(skip=(7,)),
                 scorers={"detection": FakeScorer("detection"), "fuzz": FakeScorer("fuzz")})


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One sqlite MLflow store for this module (creating one costs seconds of migrations)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


def test_mlflow_run_holds_every_summary_metric_and_the_outputs(tmp_path, monkeypatch, store):
    import mlflow

    monkeypatch.chdir(tmp_path)
    make_cache(tmp_path / "results" / "demo")
    uri = store
    cfg = InterpretConfig(examples=ExamplesConfig(min_examples=1), tracking_uri=uri, report=False)
    run_config = {"name": "demo", "interpret": {**cfg.to_dict(), "client": {"init_args": {"model": "scripted"}}}}
    summary = interpret(tmp_path / "results" / "demo", cfg, run_config, _parts())
    run_id = json.loads((tmp_path / "results" / "demo" / "mlflow_run.json").read_text())["run_id"]
    run = mlflow.MlflowClient(tracking_uri=uri).get_run(run_id)
    logged = run.data.metrics
    assert logged["detection/layers.1/f1"] == pytest.approx(summary["per_hookpoint"]["layers.1"]["detection"]["f1"]["mean"])
    assert logged["counts/failed"] == 1 and logged["counts/skipped"] == 1
    expected = summary_metrics(summary)
    assert len(expected) > 20 and {k: pytest.approx(v) for k, v in expected.items()} == logged
    assert run.data.params["interpret.client.init_args.model"] == "scripted"
    assert run.data.tags["autointerp.explainer_model"] == "scripted"  # the client's model
    assert run.data.tags["autointerp.scorers"] == "detection,fuzz"
    assert run.data.tags["autointerp.model"] == "tiny-model"
    artifacts = {a.path for a in mlflow.MlflowClient(tracking_uri=uri).list_artifacts(run_id)}
    assert {"run_config.json", "summary.json", "explanations.csv"} <= artifacts


def test_a_second_interpret_logs_into_the_same_mlflow_run(tmp_path, monkeypatch, store):
    import mlflow

    monkeypatch.chdir(tmp_path)
    make_cache(tmp_path / "results" / "demo")
    uri = store
    cfg = InterpretConfig(examples=ExamplesConfig(min_examples=1), tracking_uri=uri, report=False, experiment="second")
    for _ in range(2):
        interpret(tmp_path / "results" / "demo", cfg, None, Parts(client=CountingClient(), explainer=FakeExplainer(),
                  builder=FakeBuilder(), scorers={"detection": FakeScorer("detection")}))
    runs = mlflow.MlflowClient(tracking_uri=uri).search_runs([mlflow.MlflowClient(tracking_uri=uri).get_experiment_by_name("second").experiment_id])
    assert len(runs) == 1


def test_experiment_opens_on_the_runs_table_with_headline_metrics_first(tmp_path, monkeypatch, store):
    """MLflow 3's UI opens an untagged experiment in its traces view; the headline metrics sort first."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    make_cache(tmp_path / "results" / "demo")
    cfg = InterpretConfig(examples=ExamplesConfig(min_examples=1), tracking_uri=store, report=False, experiment="tagged")
    summary = interpret(tmp_path / "results" / "demo", cfg, None, Parts(
        client=CountingClient(), explainer=FakeExplainer(), builder=FakeBuilder(), scorers={"detection": FakeScorer("detection")}))
    client = mlflow.MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("tagged")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    run = client.search_runs([experiment.experiment_id])[0]
    headline = sorted(k for k in run.data.metrics if k.startswith("Headline/"))
    assert headline == [f"Headline/detection/{hp}/balanced_accuracy" for hp in sorted(summary["per_hookpoint"])
                        if "detection" in summary["per_hookpoint"][hp]] and headline
    mean = summary["per_hookpoint"]["layers.1"]["detection"]["balanced_accuracy"]["mean"]
    assert run.data.metrics[headline[0]] == pytest.approx(mean)
    assert sorted(run.data.metrics)[: len(headline)] == headline  # the first metric columns
