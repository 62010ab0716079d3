"""Cards: scorer mistakes matched to examples by (row, start), histograms, kept examples, strings."""

from __future__ import annotations

import json

import numpy as np

from autointerp.report.cards import HIST_BINS, latent_card, primary_metric
from autointerp.report.load import load_run

from .runs import RunSpec, make_run


def _run(tmp_path, **kw):
    make_run(tmp_path / "run", RunSpec(latents_per_hookpoint=2, n_train=8, n_test=8, n_negatives=8, **kw))
    return list(load_run(tmp_path / "run").latents())


def test_marks_exactly_the_examples_each_scorer_got_wrong(tmp_path):
    run = _run(tmp_path)
    for lat in run:
        card = latent_card(lat, max_activating=100, max_non_activating=100)
        expected = {}
        for scorer, result in lat.scores.items():
            for s in result["samples"]:
                if s["prediction"] is None:
                    kind = "unparsed"
                elif s["prediction"] != s["activating"]:
                    kind = "missed" if s["activating"] else "false"
                else:
                    continue
                expected.setdefault((s["row"], s["start"]), {})[scorer] = kind
        shown = {(ex["r"], ex["s"]): ex.get("w") for ex in card["act"] + card["non"]}
        assert {k: v for k, v in shown.items() if v} == expected
        for scorer, result in lat.scores.items():
            n_wrong = sum(1 for s in result["samples"] if s["prediction"] is not None and s["prediction"] != s["activating"])
            assert card["sc"][scorer]["missed"] + card["sc"][scorer]["false"] == n_wrong
            assert card["sc"][scorer]["unparsed"] == 1 and card["sc"][scorer]["samples"] == 16


def test_keeps_strongest_examples_plus_every_mistake(tmp_path):
    run = _run(tmp_path)
    for lat in run:
        card = latent_card(lat, max_activating=3, max_non_activating=2)
        activating = lat.record["train"] + lat.record["test"]
        peaks = sorted((max(e["activations"]) for e in activating), reverse=True)
        kept = [max(ex["a"]) for ex in card["act"]]
        assert kept[:3] == [float(f"{p:.4g}") for p in peaks[:3]]
        marked = {(ex["r"], ex["s"]) for ex in card["act"] + card["non"] if ex.get("w")}
        n_marked = sum(1 for ex in card["act"][3:] + card["non"][2:] if ex.get("w"))
        assert len(card["act"]) + len(card["non"]) == 5 + n_marked
        assert all(ex.get("w") for ex in card["act"][3:] + card["non"][2:]) and marked
        assert card["nact"] == 16 and card["nnon"] == 10


def test_histogram_counts_every_nonzero_activation(tmp_path):
    lat = _run(tmp_path)[0]
    card = latent_card(lat, 20, 10)
    values = np.concatenate([e["activations"] for e in lat.record["train"] + lat.record["test"]])
    values = values[values != 0]
    counts, _ = np.histogram(values, bins=HIST_BINS, range=(0, values.max()))
    assert card["h"]["counts"] == counts.tolist()
    assert card["h"]["hi"] == float(f"{values.max():.4g}")


def test_tokens_are_kept_and_failed_latents_still_show_examples(tmp_path):
    run = _run(tmp_path, failed={("layers.3", 0)})
    cards = [latent_card(lat, 100, 100) for lat in run]
    tokens = {(e["row"], e["start"]): e["str_tokens"] for e in run[0].record["train"] + run[0].record["test"]}
    assert {(ex["r"], ex["s"]): ex["t"] for ex in cards[0]["act"]} == tokens
    assert cards[0]["x"] is None and cards[0]["err"] and cards[0]["sc"] == {} and len(cards[0]["act"]) == 16
    json.dumps(cards, allow_nan=False)


def test_primary_metric_prefers_balanced_accuracy_then_auroc():
    assert primary_metric({"accuracy": 0.9, "balanced_accuracy": 0.7}) == "balanced_accuracy"
    assert primary_metric({"f1": 0.5, "auroc": 0.6}) == "auroc"
    assert primary_metric({"weird": 0.1, "note": "x"}) == "weird"
    assert primary_metric({"balanced_accuracy": float("nan")}) is None


def test_a_malformed_record_or_score_file_costs_only_that_part(tmp_path):
    from autointerp.io import write_json
    from autointerp.report.cards import card_job
    from autointerp.report.load import load_run

    run_dir = tmp_path / "run"
    make_run(run_dir, RunSpec(latents_per_hookpoint=2))
    path = run_dir / "explanations" / "layers.3" / "0.json"
    data = json.loads(path.read_text())
    data["record"]["train"][0]["row"] = None  # not a number
    write_json(path, data)
    write_json(run_dir / "scores" / "fuzz" / "layers.3" / "1.json", {"samples": "nonsense", "metrics": [1]})
    files = {f.key: f for f in load_run(run_dir).files}
    card, problems = card_job(files[("layers.3", 0)], 20, 10)
    assert card["x"] and card["act"] == [] and set(card["sc"]) == {"detection", "fuzz"}
    assert problems and "could not show its record" in problems[0]
    card, problems = card_job(files[("layers.3", 1)], 20, 10)
    assert card["act"] and "could not show its scores" in problems[-1] and card["sc"] == {}


def test_non_finite_activations_count_as_zero(tmp_path):
    lat = _run(tmp_path)[0]
    example = lat.record["train"][0]
    nonzero = [a for a in example["activations"] if a]
    example["activations"] = [float("nan"), float("inf"), *example["activations"][2:]]
    card = latent_card(lat, 100, 100)
    shown = next(ex for ex in card["act"] if (ex["r"], ex["s"]) == (example["row"], example["start"]))
    assert shown["a"][:2] == [0, 0]
    total = sum(1 for e in lat.record["train"] + lat.record["test"] for a in e["activations"] if a and a == a and abs(a) != float("inf"))
    assert sum(card["h"]["counts"]) == total and nonzero
    json.dumps(card, allow_nan=False)
