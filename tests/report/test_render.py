"""The written page: self-contained, escaped, with plots and summary; the CLI and its import cost."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from autointerp.cli.interpret import report_main as cli_main
from autointerp.report import write_report
from autointerp.report.render import embed_json

from .runs import RunSpec, make_run

EVIL = '</script><script>alert(1)</script><img src=x onerror="alert(2)">&amp;'


def _report(tmp_path, **kw):
    run_dir = tmp_path / "run"
    written = make_run(run_dir, RunSpec(**kw))
    return run_dir, write_report(run_dir), written


def _embedded(html: str) -> dict:
    payload = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S).group(1)
    return json.loads(payload)


def test_writes_report_and_plots_and_embeds_every_latent(tmp_path):
    run_dir, path, written = _report(tmp_path)
    assert path == run_dir / "report.html"
    assert sorted(p.name for p in (run_dir / "plots").iterdir()) == [
        "detection_vs_fuzz.svg", "score_distributions.svg", "score_vs_firing_rate.svg"]
    html = path.read_text()
    data = _embedded(html)
    assert {(c["hp"], c["i"]) for c in data["latents"]} == set(written)
    for card in data["latents"]:
        for scorer, value in written[(card["hp"], card["i"])].items():
            assert abs(card["sc"][scorer]["m"]["balanced_accuracy"] - value) < 1e-3
    svg = (run_dir / "plots" / "detection_vs_fuzz.svg").read_text()
    assert svg.count("<circle") == len(written) and svg in html
    summary = json.loads((run_dir / "summary.json").read_text())
    for hp, by_scorer in summary["per_hookpoint"].items():
        m = by_scorer["detection"]["balanced_accuracy"]
        row = (f"<td>{hp}</td><td>detection</td><td>balanced_accuracy</td><td><b>{m['mean']:.3g}</b> "
               f'<span class="up">{m["mean"] - 0.5:+.3f}</span></td><td>[{m["ci_low"]:.3g}, {m["ci_high"]:.3g}]</td>'
               f"<td>0.5</td><td>{m['n']}</td>")
        assert row in html  # mean, lift over chance, 95% interval, chance level and n, side by side
    assert "explainer reply" not in html  # no failures in this run
    assert "<td>123,456</td>" in html and "<th>mean_<wbr>l0</th>" in html  # per-hookpoint cache statistics as a table
    assert "<th>unparseable</th>" in html  # per-scorer counts
    assert '<summary>Run config</summary><pre>{\n  &quot;name&quot;: &quot;run&quot;' in html
    assert "<b>0.0012</b><span>cost (USD)</span>" in html and "<b>10</b><span>LLM calls</span>" in html


def test_page_is_self_contained(tmp_path):
    _, path, _ = _report(tmp_path)
    html = path.read_text()
    urls = set(re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>)]*", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls  # the SVG namespace name is never fetched
    assert not re.search(r"<(?:link|img|iframe|object|embed)\b", html)
    assert not re.search(r"\bsrc\s*=", html) and not re.search(r"@import|url\(", html)
    assert "default-src 'none'" in html


def test_untrusted_text_cannot_inject_markup(tmp_path):
    run_dir, path, _ = _report(tmp_path, explanation_text={("layers.3", 0): EVIL}, failed={("layers.5", 1)})
    # the failure message and a skipped list reach the static summary: make them hostile too
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["model"] = EVIL
    summary["skipped"] = {EVIL: [1, 2]}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    html = write_report(run_dir).read_text()
    assert html.count("<script") == 2 and html.count("</script>") == 2
    assert "<img" not in html and "alert(1)</script>" not in html
    assert _embedded(html)["latents"][0]["x"] == EVIL  # the text survives intact as data


@pytest.mark.parametrize("orjson", [True, False], ids=["orjson", "stdlib-json"])
def test_embed_json_never_closes_the_script_and_tolerates_nan(orjson, monkeypatch):
    if not orjson:
        monkeypatch.setitem(sys.modules, "orjson", None)  # import orjson now raises ImportError
    text = embed_json({"a": "</script><!-- \u2028", "b": float("nan")})
    assert "<" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- \u2028", "b": None}


def test_renders_with_no_summary_and_missing_scores(tmp_path):
    run_dir, path, written = _report(tmp_path, summary=False, missing_scores={("fuzz", "layers.3", 0)},
                                     failed={("layers.5", 2)})
    html = path.read_text()
    assert "summary.json is missing" in html and "explainer reply could not be parsed" in html
    cards = {(c["hp"], c["i"]): c for c in _embedded(html)["latents"]}
    assert set(cards[("layers.3", 0)]["sc"]) == {"detection"} and cards[("layers.5", 2)]["err"]


def test_cli_writes_the_report_and_rejects_a_missing_run(tmp_path, capsys):
    make_run(tmp_path / "res" / "exp", RunSpec(latents_per_hookpoint=2))
    assert cli_main(["--name", "exp", "--results_dir", str(tmp_path / "res")]) == 0
    assert (tmp_path / "res" / "exp" / "report.html").is_file()
    assert cli_main(["--name", "nope", "--results_dir", str(tmp_path / "res")]) == 2
    assert "no run folder" in capsys.readouterr().err
    assert cli_main(["--help"]) == 0 and "--results_dir" in capsys.readouterr().out
    assert cli_main([]) == 2 and "--name" in capsys.readouterr().err


def test_report_command_imports_no_heavy_library():
    code = ("import sys; import autointerp.report, autointerp.cli.interpret, autointerp.report.render; "
            "heavy = [m for m in ('torch', 'lightning', 'mlflow', 'transformers') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_worker_processes_build_the_same_cards(tmp_path, monkeypatch):
    from autointerp.report import render
    from autointerp.report.load import load_run

    run_dir = tmp_path / "run"
    make_run(run_dir, RunSpec(latents_per_hookpoint=3, failed={("layers.3", 1)}))
    (run_dir / "scores" / "fuzz" / "layers.5" / "2.json").write_text("[broken")
    serial_run, pooled_run = load_run(run_dir), load_run(run_dir)
    serial = render.page_data(serial_run, workers=1)
    monkeypatch.setattr(render, "PARALLEL_FROM", 1)
    pooled = render.page_data(pooled_run, workers=2)
    assert pooled == serial and len(pooled["latents"]) == 6
    assert pooled_run.problems == serial_run.problems and "2.json could not be read" in pooled_run.problems[-1]


def test_without_worker_processes_the_report_is_built_inline(tmp_path, monkeypatch):
    from autointerp.report import render
    from autointerp.report.load import load_run

    def no_processes(*args, **kwargs):
        raise OSError("no /dev/shm here")

    make_run(tmp_path / "run", RunSpec(latents_per_hookpoint=2))
    monkeypatch.setattr(render, "PARALLEL_FROM", 1)
    monkeypatch.setattr(render, "ProcessPoolExecutor", no_processes)
    assert len(render.page_data(load_run(tmp_path / "run"), workers=2)["latents"]) == 4


def test_secret_looking_config_values_never_reach_the_page(tmp_path):
    run_dir = tmp_path / "run"
    make_run(run_dir, RunSpec(latents_per_hookpoint=1))
    config = {"client": {"api_key": "sk-PLANTED", "n_tokens": 1000, "max_tokens": 64}, "hf_token": "hf_PLANTED"}
    (run_dir / "run_config.json").write_text(json.dumps(config))
    html = write_report(run_dir).read_text()
    assert "PLANTED" not in html and "&quot;n_tokens&quot;: 1000" in html and "&quot;max_tokens&quot;: 64" in html


def test_a_summary_of_unexpected_shape_costs_only_that_part(tmp_path):
    run_dir = tmp_path / "run"
    make_run(run_dir, RunSpec(latents_per_hookpoint=2))
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["per_hookpoint"] = {"layers.3": ["not", "a", "dict"]}
    summary["usage"] = "lots"
    (run_dir / "summary.json").write_text(json.dumps(summary))
    html = write_report(run_dir).read_text()
    assert html.count("could not show this part of summary.json") == 2
    assert "<td>123,456</td>" in html and len(_embedded(html)["latents"]) == 4  # the rest is intact


def test_skipped_latents_show_their_reason(tmp_path):
    _, path, _ = _report(tmp_path)
    html = path.read_text()
    assert "<b>skipped at layers.<wbr>3</b> (2)" in html
    assert "<tr><td>17</td><td>only 2 activating examples (at least 3 needed)</td></tr>" in html
    assert "<tr><td>99</td><td>(no reason recorded)</td></tr>" in html  # a skip the summary gives no reason for


def test_scores_table_shows_intention_to_treat_and_the_lift_over_shuffled_explanations(tmp_path):
    run_dir, _, _ = _report(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    hp, scorer = next((hp, s) for hp, by in summary["per_hookpoint"].items() for s in by)
    metric = next(iter(summary["per_hookpoint"][hp][scorer]))
    summary["per_hookpoint"][hp][scorer][metric].update({"itt": 0.4321, "n_nan": 3})
    summary["shuffled_baseline"] = {hp: {scorer: {metric: {"shuffled": 0.5, "lift": 0.2468, "lift_ci_low": 0.1357,
                                                           "lift_ci_high": 0.3579, "n": 5}}}}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    html = write_report(run_dir).read_text()
    assert "lift vs shuffled explanations" in html and "intention to treat" in html
    assert "0.247 [0.136, 0.358]" in html and "<td>0.432</td>" in html
