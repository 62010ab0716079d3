"""Build `report.html` (one self-contained file) and `plots/*.svg` from a run folder.

The page is static HTML for the summary and plots, plus the latent cards embedded once as JSON
and drawn by the page's own script (a page at a time), so 1,000 latents open fast. A
Content-Security-Policy forbids every network request; text reaches the page only escaped (the
summary) or through `textContent` (the cards).
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from autointerp.io import atomic_write_bytes
from autointerp.run_folder import RunPaths
from autointerp.report.cards import card_job
from autointerp.report.load import RunData, load_run
from autointerp.report.plots import histograms_svg, scatter_svg, xml_escape
from autointerp.report.summary import summary_html

logger = logging.getLogger(__name__)

MAX_ACTIVATING = 20
"""Activating examples kept per card (strongest first), besides those a scorer got wrong."""
MAX_NON_ACTIVATING = 10
"""Non-activating examples kept per card, besides those a scorer got wrong."""


def _static(name: str) -> str:
    """A file shipped under `autointerp/report/static/`."""
    return resources.files("autointerp.report").joinpath("static", name).read_text(encoding="utf-8")


PARALLEL_FROM = 200
"""Runs with at least this many latents read and build their cards in worker processes."""


def _cards(run: RunData, max_activating: int, max_non_activating: int, workers: int) -> list[dict[str, Any]]:
    """One card per latent, in `run.files` order; reading and parsing dominate, so large runs use processes."""
    job = partial(card_job, max_activating=max_activating, max_non_activating=max_non_activating)
    results = None
    if workers > 1 and len(run.files) >= PARALLEL_FROM:
        context = multiprocessing.get_context("spawn")  # safe in a threaded caller, unlike fork
        try:
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                results = list(pool.map(job, run.files, chunksize=max(1, len(run.files) // (8 * workers))))
        except (OSError, BrokenProcessPool) as err:  # no processes here (sandbox, no /dev/shm): do it inline
            logger.warning("report: worker processes failed (%s); reading latents in this process", err)
    if results is None:
        results = [job(files) for files in run.files]
    for _, problems in results:
        run.problems.extend(problems)
    return [card for card, _ in results]


def page_data(run: RunData, max_activating: int = MAX_ACTIVATING, max_non_activating: int = MAX_NON_ACTIVATING,
              workers: int | None = None) -> dict[str, Any]:
    """The JSON the page script reads: scorers, hookpoints and one card per latent."""
    workers = min(4, os.cpu_count() or 1) if workers is None else workers
    cards = _cards(run, max_activating, max_non_activating, workers)
    return {"name": run.name, "scorers": run.scorers, "hookpoints": sorted({c["hp"] for c in cards}), "latents": cards}


def headline_scores(cards: list[dict[str, Any]], scorer: str) -> tuple[str | None, list[tuple[dict, float]]]:
    """A scorer's most common headline metric and (card, value) for every card that has it."""
    metric = Counter(c["sc"][scorer]["p"] for c in cards if scorer in c["sc"] and c["sc"][scorer]["p"]).most_common(1)
    if not metric:
        return None, []
    name = metric[0][0]
    return name, [(c, c["sc"][scorer]["m"][name]) for c in cards if name in c["sc"].get(scorer, {}).get("m", {})]


def make_plots(data: dict[str, Any]) -> dict[str, str]:
    """File stem -> SVG: score distributions, score versus firing rate, detection versus fuzz."""
    cards, dists, vs_rate, by_scorer, labels = data["latents"], {}, {}, {}, {}
    for scorer in data["scorers"]:
        metric, values = headline_scores(cards, scorer)
        if metric:
            label = scorer if metric == "balanced_accuracy" else f"{scorer} ({metric})"
            dists[label] = [v for _, v in values]
            vs_rate[label] = [(c["fr"], v) for c, v in values if c["fr"] is not None]
            by_scorer[scorer], labels[scorer] = {(c["hp"], c["i"]): v for c, v in values}, f"{scorer} {metric}"
    plots = {
        "score_distributions": histograms_svg(dists, "Score distribution per scorer", "score (balanced accuracy unless named)"),
        "score_vs_firing_rate": scatter_svg(vs_rate, "Score versus firing rate", "firing rate (log scale)", "score", x_log=True),
    }
    if "detection" in by_scorer and "fuzz" in by_scorer:
        both = sorted(set(by_scorer["detection"]) & set(by_scorer["fuzz"]))
        points = {"latents": [(by_scorer["detection"][k], by_scorer["fuzz"][k]) for k in both]}
        plots["detection_vs_fuzz"] = scatter_svg(points, "Detection versus fuzz", labels["detection"], labels["fuzz"],
                                                   diagonal=True)
    return plots


def embed_json(data: Any) -> str:
    """JSON safe inside a <script> element: no `<` survives, so no `</script>` or `<!--` can appear."""
    try:
        import orjson  # ~10x faster for the large card payload; writes NaN and infinities as null

        text = orjson.dumps(data).decode("utf-8")
    except ImportError:
        text = json.dumps(_finite(data), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _finite(value: Any) -> Any:
    """Replace non-finite floats inside nested lists and dicts by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _fill(template: str, values: dict[str, str]) -> str:
    """Replace `{{KEY}}` placeholders in one pass (inserted text is never scanned again)."""
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: values[m.group(1)], template)


def render_html(run: RunData, plots: dict[str, str] | None = None, data: dict[str, Any] | None = None) -> str:
    """The whole report page as one string."""
    data = page_data(run) if data is None else data
    plots = make_plots(data) if plots is None else plots
    figures = "".join(f'<figure id="plot-{xml_escape(k)}">{svg}</figure>' for k, svg in plots.items())
    return _fill(_static("template.html"), {
        "TITLE": xml_escape(f"autointerp report: {run.name}"),
        "CSS": _static("report.css"),
        "SUMMARY": summary_html(run, data["latents"]),
        "PLOTS": figures,
        "DATA": embed_json(data),
        "JS": _static("report.js"),
    })


def write_report(run_dir: str | Path, workers: int | None = None) -> Path:
    """Write `<run_dir>/report.html` and `<run_dir>/plots/*.svg`; returns the report's path.

    `workers`: processes that read the latents of large runs (default: up to 4, one per CPU).
    """
    run = load_run(run_dir)
    data = page_data(run, workers=workers)
    plots = make_plots(data)
    for stem, svg in plots.items():
        atomic_write_bytes(RunPaths(run.run_dir).plots / f"{stem}.svg",
                           lambda tmp, svg=svg: Path(tmp).write_text(svg, encoding="utf-8"))
    path = RunPaths(run.run_dir).report
    html = render_html(run, plots, data)
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(html, encoding="utf-8"))
    logger.info("report: wrote %s (%d latents, %d plots)", path, len(data["latents"]), len(plots))
    return path
