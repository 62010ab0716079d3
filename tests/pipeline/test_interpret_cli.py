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


def test_interpret_help_and_a_finished_run_never_import_lightning(tmp_path):
    """`autointerp interpret --help`, and `autointerp interpret` on a run whose latents are all done,
    load neither lightning (~5 s) nor anything of the predict route."""
    import subprocess
    import sys

    from cache_helpers import make_tokenizer
    from pipeline_fakes import make_cache
    from quickstart_stage import HashTokenizer, ScriptedLLM

    from autointerp.cli.interpret import interpret_parser
    from autointerp.pipeline.run import Parts, interpret

    run_dir = tmp_path / "results" / "done"
    make_cache(run_dir)
    make_tokenizer(run_dir / "tokenizer")  # the tokenizer a finished run keeps in its folder
    assert (run_dir / "tokenizer" / "tokenizer_config.json").is_file()
    structured = {"init_args": {"structured": True}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"interpret": {
        "client": {"class_path": "LlamaCppClient", "init_args": {"model": ScriptedLLM.model, "base_url": "http://127.0.0.1:9/v1"}},
        "explainer": {"class_path": "DefaultExplainer", **structured},
        "scorers": [{"class_path": "DetectionScorer", **structured}, {"class_path": "FuzzScorer", **structured}],
        "examples": {"min_examples": 2, "n_examples_train": 2, "n_examples_test": 2, "n_non_activating": 2,
                     "example_ctx_len": 8},
        "mlflow": False, "report": False, "output_tokens": False}}))
    argv = ["--config", str(tmp_path / "c.yaml"), "--name", "done", "--results_dir", str(tmp_path / "results")]
    parser = interpret_parser()
    config = parser.instantiate_classes(parser.parse_args(argv)).interpret
    first = interpret(run_dir, config, parts=Parts(client=ScriptedLLM(), tokenizer=HashTokenizer()))  # the run, finished
    assert first["counts"]["explained"] == 8
    code = ("import sys\nfrom autointerp.cli import main\ntry:\n    code = main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    code = e.code\nprint('EXIT', code, 'LIGHTNING', 'lightning' in sys.modules)")
    for args in (["interpret", "--help"], ["interpret", *argv]):
        out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
        assert "EXIT 0 LIGHTNING False" in out.stdout, out.stdout[-2000:] + out.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["invocation"]["resumed"] == 8 and summary["invocation"]["attempted"] == 0  # nothing asked
