"""`RunPaths` builds every path of a run folder; `RunSummary` is `summary.json`, typed and built once."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from autointerp.records import Latent
from autointerp.run_folder import OPTIONAL_SUMMARY_FIELDS, RunPaths, RunSummary


def test_run_paths_validate_the_name_and_find_siblings(tmp_path):
    paths = RunPaths.for_run(tmp_path, "a")
    assert paths.score("fuzz", Latent("layers.1", 3)) == tmp_path / "a" / "scores" / "fuzz" / "layers.1" / "3.json"
    assert paths.sibling("b").latents == tmp_path / "b" / "latents"
    assert paths.sibling(tmp_path / "elsewhere").root == tmp_path / "elsewhere"
    for bad in ("", "a/b", "..", "."):
        with pytest.raises(ValueError, match="name"):
            RunPaths.for_run(tmp_path, bad)


def _summary(**kw) -> RunSummary:
    required = {f.name: {} for f in dataclasses.fields(RunSummary) if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING}
    return RunSummary(**(required | {"name": "r", "model": "m", "sparse_model": "s", "explainer_model": "e",
                                     "explainer": "default", "scorers": ["fuzz"], "hookpoints": []} | kw))


def test_the_json_form_leaves_out_what_is_absent_and_nan():
    out = _summary(per_hookpoint={"h": {"fuzz": {"f1": {"mean": math.nan}}}}).to_dict()
    assert "server_died" not in out and "specialization" not in out
    assert out["per_hookpoint"]["h"]["fuzz"]["f1"]["mean"] is None
    json.dumps(out, allow_nan=False)
    assert _summary(server_died="exit 9").to_dict()["server_died"] == "exit 9"


def test_a_run_writes_exactly_the_typed_fields(tmp_path):
    from pipeline_fakes import CountingClient, FakeBuilder, FakeExplainer, FakeScorer, make_cache

    from autointerp.examples.config import ExamplesConfig
    from autointerp.pipeline.config import InterpretConfig
    from autointerp.pipeline.run import Parts, interpret

    make_cache(tmp_path / "run")
    interpret(tmp_path / "run", InterpretConfig(examples=ExamplesConfig(min_examples=1), mlflow=False, report=False),
              parts=Parts(client=CountingClient(), explainer=FakeExplainer(), builder=FakeBuilder(),
                          scorers={"fuzz": FakeScorer("fuzz")}))
    written = json.loads(RunPaths(tmp_path / "run").summary.read_text())
    fields = [f.name for f in dataclasses.fields(RunSummary) if f.name not in OPTIONAL_SUMMARY_FIELDS]
    assert list(written) == fields
