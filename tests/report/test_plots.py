"""Hand-written SVG plots: well-formed, one mark per point, escaped text, placeholders when empty."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from autointerp.report.plots import HEIGHT, MARGIN, empty_svg, histograms_svg, scatter_svg

NS = "{http://www.w3.org/2000/svg}"


def test_scatter_draws_one_dot_per_point_and_drops_nonpositive_rates_on_a_log_axis():
    svg = scatter_svg({"detection": [(1e-4, 0.9), (1e-2, 0.6), (0.0, 0.7)], "fuzz": [(1e-3, 0.5)]},
                      "Score versus firing rate", "firing rate", "score", x_log=True)
    root = ET.fromstring(svg)  # well-formed XML
    assert len(root.findall(f".//{NS}circle")) == 3
    assert re.findall(r">(1e-?\d+)<", svg) == ["1e-4", "1e-3", "1e-2"]
    assert "detection" in svg and "fuzz" in svg  # legend for several series


def test_histograms_count_every_value_once():
    values = {"detection (balanced_accuracy)": [0.1, 0.52, 0.55, 0.95], "fuzz": [0.5]}
    root = ET.fromstring(histograms_svg(values, "Scores", "score", bins=10))
    lines = root.findall(f".//{NS}polyline")
    assert len(lines) == 2
    bottom = HEIGHT - MARGIN["bottom"]  # where a zero count sits
    heights = [bottom - float(p.split(",")[1]) for p in lines[0].get("points").split()[1:-1:2]]
    # bins of width 0.1: one value in bin 1, two in bin 5, one in bin 9; the tallest bar is 2
    assert [round(h / max(heights) * 2) for h in heights] == [0, 1, 0, 0, 0, 2, 0, 0, 0, 1]


def test_text_is_escaped_and_empty_inputs_say_so():
    svg = scatter_svg({"<script>x</script>": [(0.5, 0.5)], "b": [(0.2, 0.1)]}, "a & b", "<x>", "y")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a &amp; b" in svg
    ET.fromstring(svg)
    assert "no scores to plot" in histograms_svg({"detection": []}, "t", "x")
    assert "no latents with both values" in scatter_svg({"a": [(float("nan"), 1.0)]}, "t", "x", "y")
    ET.fromstring(empty_svg("t", "m"))


def test_a_long_legend_wraps_above_the_panel():
    names = [f"scorer_number_{k}" for k in range(7)]
    root = ET.fromstring(histograms_svg({n: [0.5] for n in names}, "t", "x"))
    keys = [r for r in root.findall(f"{NS}rect") if r.get("width") == "9"]
    assert len(keys) == 7 and all(float(r.get("x")) + 100 < 440 for r in keys)
    panel_top = float(root.find(f"{NS}rect").get("y"))
    assert len({r.get("y") for r in keys}) > 1 and max(float(r.get("y")) for r in keys) + 9 < panel_top
