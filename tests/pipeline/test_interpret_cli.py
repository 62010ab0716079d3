"""`autointerp interpret`: config sections, clear errors, the resolved run config."""

from __future__ import annotations

import json

import pytest
import yaml

from autointerp.cli.interpret import interpret_main


def test_bad_settings_and_missing_runs_are_clear_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        interpret_main(["--name", "x", "--results_dir", str(tmp_path), "--interpret.overwrite", "[bogus]"])
    assert "overwrite may name" in capsys.readouterr().err
    assert interpret_main(["--name", "missing", "--results_dir", str(tmp_path), "--interpret.mlflow", "false"]) == 2
    assert "no latent cache at" in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()


def test_a_predict_config_is_accepted_and_its_sections_kept(tmp_path, monkeypatch):
    """The interpret command reads predict's YAML, ignores the Lightning sections, keeps them in run_config."""
    import autointerp.pipeline.run as run_module

    seen = {}
    monkeypatch.setattr(run_module, "interpret", lambda run_dir, config, run_config: seen.update(
        run_dir=run_dir, config=config, run_config=run_config) or {"per_hookpoint": {}, "counts": {
            "latents": 0, "explained": 0, "failed": 0, "skipped": 0, "unparseable": 0}})
    config = {"name": "q", "trainer": {"devices": 1}, "model": {"class_path": "x.Y", "init_args": {"model": "m"}},
              "data": {"n_tokens": 5}, "interpret": {"scorers": ["RecallScorer"], "examples": {"min_examples": 3}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "run_config.json").write_text(json.dumps({"flush_tokens": 7, "interpret": {"scorers": ["fuzz"]}}))
    assert interpret_main(["--config", str(tmp_path / "c.yaml"), "--results_dir", str(tmp_path)]) == 0
    assert seen["run_dir"] == tmp_path / "q" and [type(s).__name__ for s in seen["config"].scorers] == ["RecallScorer"]
    assert seen["config"].examples.min_examples == 3
    rc = seen["run_config"]
    assert rc["flush_tokens"] == 7 and rc["data"] == {"n_tokens": 5}
    assert [s["class_path"] for s in rc["interpret"]["scorers"]] == ["autointerp.scorers.RecallScorer"]
