"""`autointerp export --format neuronpedia` on a run made by the real pipeline: every file read back
and checked against Neuronpedia's schema (written out from its Prisma schema), ids consistent
across files, and every number equal to the run's own files, read here independently."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

from autointerp.cli import main
from neuronpedia_schema import MODEL_ID, TABLES, problems
from real_run import HP, N_LATENTS, make_real_run

FOLDERS = {"features": "Neuron", "activations": "Activation", "explanations": "Explanation",
           "explanation_scores": "ExplanationScore"}
META = {"model.jsonl": "Model", "source.jsonl": "Source", "sourceset.jsonl": "SourceSet", "release.jsonl": "SourceRelease"}
CONFIG = {"explanation_type.jsonl": "ExplanationType", "explanation_model_type.jsonl": "ExplanationModelType",
          "explanation_score_type.jsonl": "ExplanationScoreType", "explanation_score_model.jsonl": "ExplanationScoreModel"}


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a .jsonl or .jsonl.gz file, read without the exporter's helpers."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return [json.loads(line) for line in data.decode().splitlines()]


def read_export(out: Path) -> dict[str, list[dict]]:
    """{table: every row of every file of that table}, each file checked against the schema on the way."""
    tables: dict[str, list[dict]] = {}
    found = []
    for folder in out.glob("*/*/"):
        if folder.parent.name == "config":
            continue
        for name, table in META.items():
            rows = read_jsonl(folder / name)
            assert len(rows) == 1, f"{folder / name} holds one row"
            found += problems(table, rows)
            tables.setdefault(table, []).extend(rows)
        for sub, table in FOLDERS.items():
            for path in sorted((folder / sub).glob("batch-*.jsonl.gz")):
                rows = read_jsonl(path)
                assert rows, f"{path} is empty (the importer fails on an empty file)"
                found += problems(table, rows)
                tables.setdefault(table, []).extend({**r, "_file": str(path.relative_to(out))} for r in rows)
    for name, table in CONFIG.items():
        rows = read_jsonl(out / "config" / name)
        found += problems(table, rows)
        tables[table] = rows
    assert found == []
    return tables


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_real_run(tmp_path_factory.mktemp("export") / "results")


@pytest.fixture(scope="module")
def exported(run_dir) -> tuple[Path, dict[str, list[dict]]]:
    out = run_dir.parent.parent / "exports" / "np"
    assert main(["export", "--name", run_dir.name, "--results_dir", str(run_dir.parent), "--format", "neuronpedia",
                 "--out", str(out)]) == 0
    return out, read_export(out)


def run_files(run_dir: Path, *parts: str) -> dict[int, dict]:
    """{latent index: JSON} of the run's files under explanations/HP or scores/<scorer>/HP."""
    return {int(p.stem): json.loads(p.read_text()) for p in (run_dir.joinpath(*parts, HP)).glob("*.json")}


def test_the_schema_check_catches_what_neuronpedia_would_refuse():
    assert problems("Neuron", [{"modelId": "m", "layer": "1-res", "index": 3}]) == ["Neuron[0].index: 3 is not str"]
    assert problems("Activation", [{"modelId": "m"}])[:1] == ["Activation[0].tokens: required, missing"]
    assert problems("Explanation", [{"id": "a", "modelId": "m", "layer": "l", "index": "1", "description": "d",
                                     "authorId": "u", "made_up": 1}]) == ["Explanation[0].made_up: no such column"]
    rows = [{"name": "a", "urls": [], "description": "d", "creatorName": "c", "creatorId": "u"},
            {"name": "b", "urls": [], "description": "d", "creatorName": "c", "creatorId": "u", "featured": None}]
    assert len(problems("SourceRelease", rows)) == 2  # keys differ between rows; null in a defaulted column


def test_the_export_has_the_layout_of_neuronpedias_exports(exported, run_dir):
    out, tables = exported
    (model,) = tables["Model"][:1]
    folders = sorted(p.relative_to(out).as_posix() for p in out.glob("*/*/") if p.parent.name != "config")
    assert folders == [f"{model['id']}/15-res-{N_LATENTS}"]
    assert MODEL_ID.match(model["id"]) and model["id"] == "smollm2-135m-instruct" and model["instruct"] is True
    assert not list(out.parent.glob(".np.*")), "the staging folder was left behind"


def test_ids_agree_across_files(exported):
    _, t = exported
    (source,), (sourceset,), (release,) = t["Source"], t["SourceSet"], t["SourceRelease"]
    model_id = t["Model"][0]["id"]
    assert source["modelId"] == sourceset["modelId"] == model_id and source["setName"] == sourceset["name"]
    assert sourceset["releaseName"] == release["name"]
    features = {(f["modelId"], f["layer"], f["index"]) for f in t["Neuron"]}
    assert features == {(model_id, source["id"], str(i)) for i in range(N_LATENTS)}
    assert all(f["sourceSetName"] == sourceset["name"] for f in t["Neuron"])
    for table in ("Activation", "Explanation"):
        assert {(r["modelId"], r["layer"], r["index"]) for r in t[table]} <= features, table
        assert len({r["id"] for r in t[table]}) == len(t[table]), f"{table} ids are unique"
    explanations = {e["id"] for e in t["Explanation"]}
    assert t["ExplanationScore"] and {s["explanationId"] for s in t["ExplanationScore"]} <= explanations
    config = {table: {r["name"] for r in t[table]} for table in CONFIG.values()}
    assert {e["typeName"] for e in t["Explanation"]} == config["ExplanationType"]
    assert {e["explanationModelName"] for e in t["Explanation"]} == config["ExplanationModelType"] == {"v1"}
    assert {s["explanationScoreTypeName"] for s in t["ExplanationScore"]} == config["ExplanationScoreType"]
    assert {s["explanationScoreModelName"] for s in t["ExplanationScore"]} == config["ExplanationScoreModel"]
    for table in ("Neuron", "Activation", "Explanation", "ExplanationScore"):
        assert all("/batch-0.jsonl.gz" in r["_file"] for r in t[table])


def test_features_and_activations_are_the_runs_records(exported, run_dir):
    _, t = exported
    records = {i: d["record"] for i, d in run_files(run_dir, "explanations").items()}
    for feature in t["Neuron"]:
        record = records[int(feature["index"])]
        assert feature["frac_nonzero"] == record["firing_rate"] > 0
        assert feature["maxActApprox"] == record["max_activation"]
        assert feature["pos_str"] == record["top_output_tokens"] and len(feature["pos_str"]) == 10
        assert feature["pos_values"] == [-10000] * 10
    for index, record in records.items():
        examples = {(str(e["row"]), tuple(e["str_tokens"])): e["activations"] for e in record["train"] + record["test"]}
        rows = [a for a in t["Activation"] if a["index"] == str(index)]
        assert len(rows) == len(examples) > 0
        assert [a["maxValue"] for a in rows] == sorted((a["maxValue"] for a in rows), reverse=True)
        for a in rows:
            values = examples[(a["dataIndex"], tuple(a["tokens"]))]
            assert a["values"] == values and a["maxValue"] == max(values) == values[a["maxValueTokenIndex"]]
            assert a["minValue"] == min(values)


def test_explanations_are_the_runs(exported, run_dir):
    _, t = exported
    written = run_files(run_dir, "explanations")
    assert {e["index"]: e["description"] for e in t["Explanation"]} == {
        str(i): d["explanation"]["text"] for i, d in written.items()}
    assert len({e["description"] for e in t["Explanation"]}) > 1  # the latents' explanations differ
    assert {e["typeName"] for e in t["Explanation"]} == {"autointerp_default"}


def test_an_exported_score_equals_the_runs_score(exported, run_dir):
    _, t = exported
    explanation_of = {e["id"]: int(e["index"]) for e in t["Explanation"]}
    got = {(s["explanationScoreTypeName"], explanation_of[s["explanationId"]]): s["value"] for s in t["ExplanationScore"]}
    expected = {}
    for scorer in ("detection", "fuzz"):
        for index, result in run_files(run_dir, "scores", scorer).items():
            value = result["metrics"].get("balanced_accuracy")
            if result["error"] is None and value is not None and math.isfinite(value):
                expected[(f"autointerp_{scorer}", index)] = value
    assert got == expected and len(set(expected.values())) > 1
    skipped = [i for i, r in run_files(run_dir, "scores", "detection").items() if r["error"]]
    assert skipped and all(("autointerp_detection", i) not in got for i in skipped)
    details = json.loads(t["ExplanationScore"][0]["jsonDetails"])
    assert details["metric"] == "balanced_accuracy" and details["metrics"]["balanced_accuracy_chance"] == 0.5


def test_the_export_imports_no_lightning_torch_or_transformers(run_dir, tmp_path):
    import subprocess
    import sys

    code = ("import sys\nfrom autointerp.cli import main\nrc = main(sys.argv[1:])\n"
            "print('HEAVY', [m for m in ('lightning', 'torch', 'transformers', 'mlflow') if m in sys.modules], rc)")
    args = ["export", "--name", run_dir.name, "--results_dir", str(run_dir.parent), "--format", "neuronpedia",
            "--out", str(tmp_path / "o")]
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert "HEAVY [] 0" in proc.stdout, proc.stdout[-500:] + proc.stderr[-2000:]
    assert list((tmp_path / "o").glob("*/*/explanations/batch-0.jsonl.gz"))


def test_batches_split_latents_by_index(run_dir, tmp_path):
    out = tmp_path / "batched"
    assert main(["export", "--name", run_dir.name, "--results_dir", str(run_dir.parent), "--format", "neuronpedia",
                 "--out", str(out), "--batch_size", "2"]) == 0
    t = read_export(out)
    for table in ("Neuron", "Activation", "Explanation"):
        assert {(r["_file"].rsplit("/", 1)[-1], int(r["index"]) // 2) for r in t[table]} == {
            ("batch-0.jsonl.gz", 0), ("batch-1.jsonl.gz", 1)}, table


def _export(tmp_path, *args: str) -> int:
    return main(["export", "--results_dir", str(tmp_path / "results"), *args])


def test_an_unknown_run_name_is_named(tmp_path, capsys):
    (tmp_path / "results").mkdir()
    assert _export(tmp_path, "--name", "nope", "--format", "neuronpedia", "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "--name" in err and not (tmp_path / "o").exists()


def test_an_unknown_format_is_named(run_dir, capsys, tmp_path):
    args = ["--results_dir", str(run_dir.parent), "--name", run_dir.name, "--format", "saebench", "--out", str(tmp_path / "o")]
    assert main(["export", *args]) == 2
    err = capsys.readouterr().err
    assert "--format" in err and "saebench" in err and "neuronpedia" in err and not (tmp_path / "o").exists()


def test_a_full_out_folder_needs_overwrite_and_is_then_replaced_whole(run_dir, tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["export", "--results_dir", str(run_dir.parent), "--name", run_dir.name, "--format", "neuronpedia", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "--overwrite" in err and (out / "keep.txt").read_text() == "mine"
    assert main([*args, "--overwrite"]) == 0
    assert not (out / "keep.txt").exists() and list(out.glob("*/*/features/batch-0.jsonl.gz"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]  # no staging or replaced folder left


def test_a_failed_export_leaves_the_old_one_untouched(run_dir, tmp_path, monkeypatch):
    from autointerp.export import files

    out = tmp_path / "o"
    args = ["export", "--results_dir", str(run_dir.parent), "--name", run_dir.name, "--format", "neuronpedia", "--out", str(out)]
    assert main(args) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    calls = []

    def broken(folder, batch, rows):
        calls.append(folder)
        if len(calls) == 3:
            raise OSError("disk full")
        return files.write_jsonl(folder / f"batch-{batch}.jsonl", rows) or len(rows)

    monkeypatch.setattr(files, "write_batch", broken)
    with pytest.raises(OSError, match="disk full"):
        main([*args, "--overwrite", "--release", "other"])
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_a_failed_latent_has_a_feature_but_no_explanation(tmp_path):
    from report.runs import RunSpec, make_run

    make_run(tmp_path / "results" / "r", RunSpec(hookpoints=("layers.3",), latents_per_hookpoint=3, failed={("layers.3", 1)}))
    assert _export(tmp_path, "--name", "r", "--format", "neuronpedia", "--out", str(tmp_path / "o"),
                   "--model_id", "tiny-model", "--source_set", "res-test") == 0
    t = read_export(tmp_path / "o")
    assert {f["index"] for f in t["Neuron"]} == {"0", "1", "2"} and {f["layer"] for f in t["Neuron"]} == {"3-res-test"}
    assert {e["index"] for e in t["Explanation"]} == {"0", "2"}
    assert {a["index"] for a in t["Activation"]} == {"0", "1", "2"}
    assert set(TABLES["Neuron"]) >= set(t["Neuron"][0]) - {"_file"}
