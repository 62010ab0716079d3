"""The quickstart's results are unchanged by the restructuring (issue 14): same requests, same results.

`tests/quickstart_stage.json` was written by `tests/quickstart_stage.py` on main at 52d5c29 (the
code before the restructuring, with issues 13 and 19 merged: components by name, one flat interpret
config), with the quickstart config of that commit (the same file on 38fec7c gave identical requests
and results against the restructured code before issue 13 changed the scorers). Here the same stage runs through today's route (components by class_path,
bound to the run) with today's `configs/quickstart.yaml`: every request the LLM receives (messages
and settings) and every explanation and score written must be byte-identical, so the same seed
gives the same explanations and scores with a real LLM too.

Issue 18 regenerated the file on purpose: the quickstart now adds 4 known-answer latents
(`interpret.calibration: 4`), so it sends more requests (43 -> 87, hence a new `requests` hash) and
writes their results under `calibration/` (`calibration_results`, `calibration_sets`,
`calibration_verdict`); the real latents' `results`, `counts` and `per_hookpoint` stayed byte-identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from quickstart_stage import fingerprint

REPO = Path(__file__).resolve().parent.parent


def test_the_quickstart_stage_sends_and_writes_what_it_did_before(tmp_path):
    before = json.loads((REPO / "tests" / "quickstart_stage.json").read_text())
    assert fingerprint(tmp_path, REPO) == before
    assert before["n_requests"] > 20 and before["counts"]["explained"] >= 5
    assert len(before["calibration_sets"]) == 4 and "carry no information" in before["calibration_verdict"]


def test_the_fingerprint_sees_a_changed_setting(tmp_path):
    """A control: the same run with one scorer setting changed no longer matches."""
    changed = tmp_path / "repo"
    (changed / "configs").mkdir(parents=True)
    config = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())
    config["interpret"]["scorers"][0]["init_args"]["n_examples_per_prompt"] = 4
    (changed / "configs" / "quickstart.yaml").write_text(yaml.safe_dump(config))
    before = json.loads((REPO / "tests" / "quickstart_stage.json").read_text())
    after = fingerprint(tmp_path, changed)
    assert after["requests"] != before["requests"] and after["n_requests"] != before["n_requests"]
