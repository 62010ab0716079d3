"""The quickstart's results are unchanged by the restructuring (issue 14): same requests, same results.

`tests/quickstart_stage.json` was written by `tests/quickstart_stage.py` on main at 52d5c29 (the
code before the restructuring, with issues 13 and 19 merged: components by name, one flat interpret
config), with the quickstart config of that commit (the same file on 38fec7c gave identical requests
and results against the restructured code before issue 13 changed the scorers). Here the same stage runs through today's route (components by class_path,
bound to the run) with today's `configs/quickstart.yaml`: every request the LLM receives (messages
and settings) and every explanation and score written must be byte-identical, so the same seed
gives the same explanations and scores with a real LLM too.

Regenerated on purpose three times (`PYTHONPATH=.:tests python tests/quickstart_stage.py`): for issue 15
the quickstart's second explainer, the top-tokens baseline, is scored beside the LLM explainer (the
LLM explainer's metrics were those of the old golden); for issue 20 the scorer prompts put the
explanation and instructions before the excerpts (a shared head for a server's prefix cache), so the
requests changed, and with them the scripted LLM's hashed answers; for issue 18 the quickstart adds
4 known-answer latents (`interpret.calibration: 4`), whose results the golden records under
`calibration_results`, `calibration_sets` and `calibration_verdict`.
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


def test_the_quickstart_scores_the_top_tokens_baseline_beside_the_llm_explainer(tmp_path):
    """Both explainers' metrics side by side, and each metric's lift over the baseline with its interval."""
    got = fingerprint(tmp_path, REPO)
    per_hp = got["per_hookpoint"]["layers.1"]
    assert {"detection", "fuzz", "detection@top-tokens", "fuzz@top-tokens"} <= set(per_hp)
    lift = got["baseline_explainer"]["lift"]["layers.1"]["detection"]["balanced_accuracy"]
    assert got["baseline_explainer"]["name"] == "top-tokens"
    ours, theirs = per_hp["detection"]["balanced_accuracy"], per_hp["detection@top-tokens"]["balanced_accuracy"]
    assert lift["baseline"] == theirs["mean"] and lift["n"] == ours["n"] == theirs["n"]
    assert abs(lift["lift"] - (ours["mean"] - theirs["mean"])) < 1e-12  # same latents on both sides: mean of differences
    assert lift["lift_ci_low"] <= lift["lift"] <= lift["lift_ci_high"]


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
