"""`autointerp calibrate`: the interpret command with known-answer latents (how many: --n, else the
config's, else the default); the run config it saves stays one `autointerp interpret` reads."""

from __future__ import annotations

import pytest
import yaml

from autointerp.cli import main
from autointerp.cli.calibrate import DEFAULT_N


@pytest.fixture
def seen(tmp_path, monkeypatch):
    import autointerp.pipeline.run as run_module

    got = {}
    monkeypatch.setattr(run_module, "interpret", lambda run_dir, config, run_config: got.update(
        run_dir=run_dir, config=config, run_config=run_config) or {"per_hookpoint": {}, "counts": {
            "latents": 0, "explained": 0, "failed": 0, "skipped": 0, "unparseable": 0}})
    (tmp_path / "q").mkdir()
    return got


def config_file(tmp_path, **interpret) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"name": "q", "trainer": {"devices": 1}, "interpret": interpret}))
    return str(path)


@pytest.mark.parametrize("interpret,flags,expected", [
    ({}, [], DEFAULT_N),
    ({"calibration": 3}, [], 3),
    ({"calibration": 3}, ["--n", "5"], 5),
])
def test_how_many_known_answer_latents(tmp_path, seen, interpret, flags, expected):
    argv = ["calibrate", "--config", config_file(tmp_path, **interpret), "--results_dir", str(tmp_path), *flags]
    assert main(argv) == 0
    assert seen["run_dir"] == tmp_path / "q" and seen["config"].calibration == expected
    assert seen["run_config"]["interpret"]["calibration"] == expected and "n" not in seen["run_config"]


def test_zero_is_refused_and_the_help_names_the_command(tmp_path, seen, capsys):
    with pytest.raises(SystemExit):
        main(["calibrate", "--config", config_file(tmp_path), "--results_dir", str(tmp_path), "--n", "0"])
    assert "--n must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["calibrate", "--help"])
    assert "known-answer" in capsys.readouterr().out and not seen
