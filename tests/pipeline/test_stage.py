"""The interpret stage's orchestration: outputs, failures, resume, overwrite, concurrency, budget."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autointerp.examples.config import ExamplesConfig
from autointerp.pipeline.config import InterpretConfig
from autointerp.pipeline.run import Parts, interpret
from autointerp.pipeline.stage import RunFailedError
from pipeline_fakes import Accounting, CountingClient, FakeBuilder, FakeExplainer, FakeScorer, make_cache

HP = "layers.1"


def config(**kw) -> InterpretConfig:
    base = dict(examples=ExamplesConfig(min_examples=1), mlflow=False, report=False)
    return InterpretConfig(**(base | kw))


def parts(builder=None, explainer=None, client=None, accounting=None, scorers=("detection", "fuzz")) -> Parts:
    return Parts(
        client=client or CountingClient(), explainer=explainer or FakeExplainer(),
        scorers={s: FakeScorer(s) for s in scorers}, builder=builder or FakeBuilder(), accounting=accounting,
    )


@pytest.fixture
def run_dir(tmp_path):
    make_cache(tmp_path / "run")
    return tmp_path / "run"


def test_writes_every_output_with_the_contract_keys(run_dir):
    summary = interpret(run_dir, config(), parts=parts())
    for i in range(8):
        data = json.loads((run_dir / "explanations" / HP / f"{i}.json").read_text())
        assert set(data) == {"latent", "explanation", "error", "fingerprint", "record"}
        assert data["explanation"]["text"] == f"explanation of {i}"
        assert data["record"]["test"][0]["row"] == i and data["record"]["test"][0]["role"] == "test"
        for scorer in ("detection", "fuzz"):
            score = json.loads((run_dir / "scores" / scorer / HP / f"{i}.json").read_text())
            assert score["scorer"] == scorer and score["samples"][0]["row"] == i
    assert json.loads((run_dir / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert summary["counts"] == {"latents": 8, "explained": 8, "failed": 0, "skipped": 0, "unparseable": 0}
    f1 = summary["per_hookpoint"][HP]["detection"]["f1"]
    assert f1["mean"] == pytest.approx(np.mean(np.arange(8) / 10)) and f1["n"] == 8
    assert summary["per_hookpoint"][HP]["detection"]["balanced_accuracy"]["chance"] == 0.5
    assert (run_dir / "run_config.json").is_file()


def test_a_failing_latent_is_an_error_record_and_the_run_goes_on(run_dir):
    summary = interpret(run_dir, config(), parts=parts(explainer=FakeExplainer(fail=(3,))))
    data = json.loads((run_dir / "explanations" / HP / "3.json").read_text())
    assert data["explanation"] is None and "could not be parsed" in data["error"]
    assert data["record"]["latent"] == {"hookpoint": HP, "index": 3}
    assert not (run_dir / "scores" / "detection" / HP / "3.json").exists()
    assert summary["counts"]["failed"] == 1 and summary["failed"] == {HP: [3]}
    assert summary["per_hookpoint"][HP]["detection"]["f1"]["n"] == 7


def test_the_run_fails_past_the_failure_fraction_after_writing_the_summary(run_dir):
    with pytest.raises(RunFailedError, match="max_failure_fraction"):
        interpret(run_dir, config(max_failure_fraction=0.2), parts=parts(explainer=FakeExplainer(fail=(1, 2, 3))))
    assert json.loads((run_dir / "summary.json").read_text())["counts"]["failed"] == 3


def test_skipped_latents_are_counted_with_their_indices(run_dir):
    summary = interpret(run_dir, config(), parts=parts(builder=FakeBuilder(skip=(0, 5))))
    assert summary["skipped"] == {HP: [0, 5]} and summary["counts"]["skipped"] == 2
    assert summary["skip_reasons"][HP]["5"] == "1 activating windows < min_examples=2"
    assert summary["counts"]["explained"] == 6


def test_a_rerun_sends_nothing_for_finished_latents(run_dir):
    interpret(run_dir, config(), parts=parts(explainer=FakeExplainer(fail=(2,))))
    client = CountingClient()
    summary = interpret(run_dir, config(), parts=parts(client=client))
    assert client.calls == 3  # only latent 2: its explanation and two scores
    assert summary["counts"]["failed"] == 0 and summary["invocation"]["resumed"] == 7


def test_a_new_scorer_on_a_rerun_runs_only_that_scorer(run_dir):
    interpret(run_dir, config(), parts=parts())
    client = CountingClient()
    summary = interpret(run_dir, config(),
                        parts=parts(client=client, scorers=("detection", "fuzz", "recall")))
    assert client.calls == 8
    assert set(summary["per_hookpoint"][HP]) == {"detection", "fuzz", "recall"}


@pytest.mark.parametrize(("stage", "calls"), [("scores", 16), ("explanations", 24)])
def test_overwrite_redoes_the_named_stage(run_dir, stage, calls):
    interpret(run_dir, config(), parts=parts())
    client = CountingClient()
    interpret(run_dir, config(overwrite=[stage]), parts=parts(client=client))
    assert client.calls == calls


def test_latents_in_flight_are_bounded_by_pipeline_num_proc(run_dir):
    client = CountingClient(delay=0.02)
    interpret(run_dir, config(pipeline_num_proc=3), parts=parts(client=client, scorers=("detection",)))
    # one call at a time per latent during explaining, one per scorer after: at most 3 latents x 1 call
    assert client.peak == 3


def test_an_exhausted_budget_starts_no_new_latent(run_dir):
    accounting = Accounting(budget_tokens=30)  # each call costs 12 tokens: the third call spends it
    client = CountingClient(accounting=accounting)
    summary = interpret(run_dir, config(pipeline_num_proc=1), parts=parts(client=client, accounting=accounting))
    assert summary["counts"]["explained"] == 1 and summary["invocation"]["not_started"] == 7
    assert summary["invocation"]["budget_exhausted"] is True
    assert summary["usage"]["explain"]["calls"] == 1 and summary["usage"]["score/detection"]["calls"] == 1


def test_bad_settings_name_themselves():
    with pytest.raises(ValueError, match="overwrite"):
        config(overwrite=["everything"])
    with pytest.raises(ValueError, match="pipeline_num_proc"):
        config(pipeline_num_proc=0)


def test_interpret_without_a_cache_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        interpret(tmp_path / "nothing", config(), parts=parts())


def test_a_record_that_cannot_be_built_is_an_error_record(run_dir):
    class Broken(FakeBuilder):
        def build(self, latent):
            if latent.index == 2:
                raise OSError("shard unreadable")
            return super().build(latent)

    summary = interpret(run_dir, config(), parts=parts(builder=Broken()))
    data = json.loads((run_dir / "explanations" / HP / "2.json").read_text())
    assert data["error"] == "OSError: shard unreadable" and data["record"] is None
    assert summary["counts"]["failed"] == 1 and summary["counts"]["explained"] == 7


def test_the_failure_fraction_counts_the_whole_run_not_one_rerun(run_dir):
    interpret(run_dir, config(), parts=parts(explainer=FakeExplainer(fail=(4,))))
    # The rerun retries only latent 4, which fails again: 1 failed of 8, not 1 of 1.
    summary = interpret(run_dir, config(max_failure_fraction=0.2), parts=parts(explainer=FakeExplainer(fail=(4,))))
    assert summary["invocation"]["attempted"] == 1 and summary["counts"]["failed"] == 1


def test_a_failed_run_exits_1_with_a_message(monkeypatch, capsys):
    import autointerp.cli as cli
    import autointerp.cli.predict as lcli
    from autointerp.pipeline.stage import RunFailedError

    def fail(args):
        raise RunFailedError("3 of 4 latents failed")

    monkeypatch.setattr(lcli, "run", fail)
    assert cli.main(["predict", "--config", "x.yaml"]) == 1
    assert "3 of 4 latents failed" in capsys.readouterr().err


def test_a_rerun_with_nothing_to_do_keeps_the_work_timing_and_cost(run_dir):
    """summary.json keeps the first invocation's seconds and tokens; the rerun's own sit under `invocation`."""
    first = interpret(run_dir, config(), parts=parts(client=CountingClient(accounting=Accounting())))
    again = interpret(run_dir, config(), parts=parts(client=CountingClient(accounting=Accounting())))
    assert again["invocation"]["resumed"] == 8 and again["invocation"]["attempted"] == 0
    own = again["invocation"]["timing_s"]["interpret"]
    assert again["timing_s"]["interpret"] == pytest.approx(first["timing_s"]["interpret"] + own)
    assert again["timing_s"]["busy/explain"] == pytest.approx(first["timing_s"]["busy/explain"])
    assert again["usage_total"] == first["usage_total"] and again["usage"] == first["usage"]
    assert again["invocation"]["usage_total"]["calls"] == 0 < first["usage_total"]["calls"]
