"""Reading a run folder: everything present, and every kind of gap the report must survive."""

from __future__ import annotations

import pytest

from autointerp.report.load import load_run

from .runs import RunSpec, make_run


def test_reads_every_latent_with_its_scores(tmp_path):
    written = make_run(tmp_path / "run", RunSpec(latents_per_hookpoint=3))
    run = load_run(tmp_path / "run")
    latents = list(run.latents())
    assert [lat.key for lat in latents] == [f.key for f in run.files] == sorted(written)
    assert run.scorers == ["detection", "fuzz"]
    assert run.name == "run" and run.problems == []
    for lat in latents:
        assert {s: r["metrics"]["balanced_accuracy"] for s, r in lat.scores.items()} == written[lat.key]
        assert lat.explanation["text"] and lat.record["latent"] == {"hookpoint": lat.hookpoint, "index": lat.index}


def test_tolerates_failures_gaps_and_broken_files(tmp_path):
    run_dir = tmp_path / "run"
    make_run(run_dir, RunSpec(latents_per_hookpoint=3, failed={("layers.3", 1)},
                              missing_scores={("fuzz", "layers.5", 2)}, summary=False))
    (run_dir / "scores" / "detection" / "layers.5" / "0.json").write_text("{not json")
    (run_dir / "scores" / "detection" / "layers.5" / "notes.txt").write_text("ignored")
    run = load_run(run_dir)
    by_key = {lat.key: lat for lat in run.latents()}
    assert len(by_key) == 6 and run.summary == {}
    failed = by_key[("layers.3", 1)]
    assert failed.explanation is None and failed.error and failed.scores == {}
    assert set(by_key[("layers.5", 2)].scores) == {"detection"}
    assert set(by_key[("layers.5", 0)].scores) == {"fuzz"}
    assert any("summary.json is missing" in p for p in run.problems)
    assert any("0.json could not be read" in p for p in run.problems)


def test_a_missing_run_folder_names_the_setting(tmp_path):
    with pytest.raises(FileNotFoundError, match="--name"):
        load_run(tmp_path / "nope")


def test_parse_json_accepts_nan_and_works_without_orjson(monkeypatch):
    from autointerp.report.load import parse_json

    assert parse_json(b'{"a": NaN, "b": [1, 2]}')["b"] == [1, 2]
    monkeypatch.setitem(__import__("sys").modules, "orjson", None)
    assert parse_json(b'{"a": 1}') == {"a": 1}


def test_reads_what_the_interpret_stage_writes(tmp_path):
    """The contract: files written by the interpret stage's own writers load and render."""
    import numpy as np

    from autointerp.pipeline.outputs import RunPaths, write_explanation, write_score
    from autointerp.records import Explanation, Latent
    from autointerp.report import write_report

    from .runs import RunSpec, make_record, make_score

    paths, spec, rng = RunPaths(tmp_path / "run"), RunSpec(), np.random.default_rng(1)
    ok, failed = Latent("layers.2", 7), Latent("layers.2", 9)
    record = make_record(rng, ok, spec)
    write_explanation(paths, ok, record, Explanation(ok, "numbers in dates", "default"), None)
    write_score(paths, make_score(rng, record, "detection", "numbers in dates"))
    write_explanation(paths, failed, make_record(rng, failed, spec), None, "ExplanationError: no reply")
    run = load_run(paths.root)
    latents = list(run.latents())
    assert [lat.key for lat in latents] == [("layers.2", 7), ("layers.2", 9)]
    assert latents[0].explanation["text"] == "numbers in dates" and set(latents[0].scores) == {"detection"}
    assert latents[1].error == "ExplanationError: no reply" and len(latents[1].record["test"]) == spec.n_test
    html = write_report(paths.root).read_text()
    assert "ExplanationError: no reply" in html and "numbers in dates" in html
