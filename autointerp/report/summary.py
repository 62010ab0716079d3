"""The report's summary section as static HTML: metrics, counts, cost, timing, failures.

Everything is built from `summary.json` where present and from the loaded latents otherwise;
every piece of text from the run passes through `xml_escape`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from autointerp.report.cells import breakable, num as _num, table as _table  # noqa: F401  (breakable re-exported)
from autointerp.report.load import RunData
from autointerp.report.plots import xml_escape as esc

logger = logging.getLogger(__name__)


def _section(title: str, body: str, ident: str) -> str:
    """A titled block of the summary."""
    return f'<section class="block" id="{ident}"><h2>{esc(title)}</h2>{body}</section>'


def header_html(run: RunData, cards: list[dict[str, Any]]) -> str:
    """Run name and what produced it."""
    s = run.summary
    facts = [("model", s.get("model")), ("sparse model", s.get("sparse_model")),
             ("explainer", " · ".join(str(x) for x in (s.get("explainer"), s.get("explainer_model")) if x)),
             ("hookpoints", ", ".join(map(str, s.get("hookpoints") or sorted({c["hp"] for c in cards})))),
             ("scorers", ", ".join(run.scorers))]
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts if v)
    return f'<header><h1>{esc(run.name)}</h1><dl class="facts">{items}</dl></header>'


def counts_html(run: RunData, cards: list[dict[str, Any]]) -> str:
    """Tiles for latents, explained, failed, skipped, unparseable."""
    counts = dict(run.summary.get("counts") or {})
    counts.setdefault("latents", len(cards))
    counts.setdefault("explained", sum(1 for c in cards if c["x"] is not None))
    counts.setdefault("failed", sum(1 for c in cards if c["err"]))
    stages = run.summary.get("usage")
    usage = [u for u in stages.values() if isinstance(u, dict)] if isinstance(stages, dict) else []
    if usage:
        counts["LLM calls"] = sum(int(u.get("calls") or 0) for u in usage)
        cost = sum(float(u.get("cost_usd") or 0) for u in usage)
        counts["cost (USD)"] = f"{cost:.4f}" if cost else "–"
    tiles = "".join(f'<div class="tile"><b>{_num(v)}</b><span>{esc(k)}</span></div>' for k, v in counts.items())
    return f'<div class="tiles">{tiles}</div>'


def metrics_html(run: RunData) -> str:
    """Per hookpoint and scorer: each metric's mean, 95% interval, chance level, n, undefined count,
    intention-to-treat mean and lift over the shuffled-explanation control."""
    per_hp = run.summary.get("per_hookpoint") or {}
    high = run.summary.get("high_quality") or {}
    if not per_hp:
        return '<p class="note">summary.json has no per-hookpoint metrics; the cards below show each latent\'s scores.</p>'
    shuffled = run.summary.get("shuffled_baseline") or {}
    rows = []
    for hp, scorers in per_hp.items():
        for scorer, metrics in (scorers or {}).items():
            for metric, m in (metrics or {}).items():
                m = m if isinstance(m, dict) else {"mean": m}
                mean, chance = m.get("mean"), m.get("chance")
                lift = ""
                if isinstance(mean, (int, float)) and isinstance(chance, (int, float)):
                    lift = f' <span class="{"up" if mean > chance else "down"}">{mean - chance:+.3f}</span>'
                control = ((shuffled.get(hp) or {}).get(scorer) or {}).get(metric)
                rows.append([esc(hp), esc(scorer), esc(metric), f"<b>{_num(mean)}</b>{lift}",
                             f"[{_num(m.get('ci_low'))}, {_num(m.get('ci_high'))}]", _num(chance), _num(m.get("n")),
                             _num(m.get("n_nan")), _num(m.get("itt")), _vs_shuffled(control),
                             _num((high.get(hp) or {}).get(scorer))])
    headers = ["hookpoint", "scorer", "metric", "mean (vs chance)", "95% interval", "chance", "n", "undefined",
               "intention to treat", "lift vs shuffled explanations [95%]", "high quality"]
    html = _table(headers, rows, "metrics")
    per_scorer = run.summary.get("scorer_counts") or {}
    if per_scorer and all(isinstance(v, dict) for v in per_scorer.values()):
        html += "<h3>latents per scorer</h3>" + _dict_table("scorer", per_scorer)
    return html


def _vs_shuffled(control: Any) -> str:
    """The lift over the shuffled-explanation control with its interval, or a dash where it did not run."""
    if not isinstance(control, dict):
        return "–"
    return f"{_num(control.get('lift'))} [{_num(control.get('lift_ci_low'))}, {_num(control.get('lift_ci_high'))}]"


def usage_html(run: RunData) -> str:
    """LLM calls, tokens and cost per stage, and wall time per stage."""
    usage, timing = run.summary.get("usage") or {}, run.summary.get("timing_s") or {}
    parts = []
    if usage:
        keys = ["calls", "cached_calls", "prompt_tokens", "completion_tokens", "cost_usd"]
        rows = [[esc(stage)] + [_num((u or {}).get(k), 4) for k in keys] for stage, u in usage.items()]
        parts.append(_table(["stage", "calls", "cached", "prompt tokens", "completion tokens", "USD"], rows))
    if timing:  # summed over every invocation of the run; a resumed rerun's own seconds are listed apart
        latest = (run.summary.get("invocation") or {}).get("timing_s") or {}
        rows = [[esc(stage), _num(t, 4), _num(latest.get(stage), 4)] for stage, t in timing.items()]
        parts.append(_table(["stage", "seconds (all invocations)", "seconds (last invocation)"], rows))
    return "".join(parts) or '<p class="note">no usage or timing recorded</p>'


def _dict_table(first: str, table: dict[str, Any]) -> str:
    """A dict of dicts as a table: one row per outer key, one column per inner key."""
    columns = list(dict.fromkeys(k for stats in table.values() for k in stats))
    rows = [[breakable(name)] + [_num(stats.get(c)) for c in columns] for name, stats in table.items()]
    return _table([first, *columns], rows)


def cache_html(run: RunData) -> str:
    """Cache statistics: top-level numbers, then one row per hookpoint."""
    cache = run.summary.get("cache") or {}
    flat = [[esc(k), _num(v)] for k, v in cache.items() if not isinstance(v, (dict, list))]
    html = _table(["statistic", "value"], flat) if flat else ""
    for key, value in cache.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            html += _dict_table(key.rstrip("s") or key, value)  # e.g. "hookpoints": {hp: {d_sae, nnz, ...}}
        elif isinstance(value, dict):
            rows = [[esc(k), _num(v) if not isinstance(v, (dict, list)) else esc(v)] for k, v in value.items()]
            html += f"<h3>{esc(key)}</h3>" + _table(["statistic", "value"], rows)
    return html or '<p class="note">no cache statistics recorded</p>'


def failures_html(run: RunData, cards: list[dict[str, Any]]) -> str:
    """Failed latents with their errors, skipped latents, and files the report could not read."""
    errors = {(c["hp"], c["i"]): c["err"] for c in cards if c["err"]}
    failed = run.summary.get("failed") or {}
    for hp, indices in failed.items():
        for i in indices or []:
            errors.setdefault((str(hp), int(i)), "(no error message recorded)")
    parts = []
    if errors:
        rows = [[f'<a href="#latent-{esc(hp)}/{i}" data-goto="{esc(hp)}/{i}">{esc(hp)}/{i}</a>', esc(err)]
                for (hp, i), err in sorted(errors.items())]
        parts.append(_table(["latent", "error"], rows, "failures"))
    reasons = run.summary.get("skip_reasons") or {}
    for hp, indices in (run.summary.get("skipped") or {}).items():
        parts.append(_skipped_html(str(hp), list(indices or []), reasons.get(hp) or {}))
    if run.problems:
        parts.append("<p><b>not read</b></p><ul>" + "".join(f"<li>{esc(p)}</li>" for p in run.problems) + "</ul>")
    return "".join(parts) or '<p class="note">no failures, nothing skipped</p>'


def _skipped_html(hp: str, indices: list[Any], reasons: dict[str, Any]) -> str:
    """The skipped latents of one hookpoint, each with its reason (`skip_reasons`: {hp: {"index": reason}})."""
    rows = [[esc(i), esc(reasons.get(str(i)) or "(no reason recorded)")] for i in indices[:200]]
    more = f'<p class="note">… and {len(indices) - 200} more</p>' if len(indices) > 200 else ""
    return f"<p><b>skipped at {breakable(hp)}</b> ({len(indices)})</p>" + _table(["latent", "reason"], rows, "skipped") + more


SECRET_KEY = re.compile(r"(api[_-]?key|secret|password|authorization|(^|_)token$)", re.IGNORECASE)
"""Config keys whose values the page never shows, should one reach run_config.json."""


def _redacted(value: Any) -> Any:
    """The config with secret-looking values replaced (defence in depth: the run strips them already)."""
    if isinstance(value, dict):
        return {k: "<redacted>" if SECRET_KEY.search(str(k)) and v else _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def config_html(run: RunData) -> str:
    """The run's resolved config, folded away."""
    if not run.run_config:
        return ""
    text = json.dumps(_redacted(run.run_config), indent=2, sort_keys=True, default=str)
    return f'<details class="block" id="run-config"><summary>Run config</summary><pre>{esc(text)}</pre></details>'


def _guarded(part: Callable[..., str], *args: Any) -> str:
    """One part of the summary; a summary.json of an unexpected shape costs only that part."""
    try:
        return part(*args)
    except (TypeError, AttributeError, ValueError, KeyError) as err:
        logger.warning("report: could not show %s: %r", part.__name__, err)
        return f'<p class="note">could not show this part of summary.json ({esc(repr(err))})</p>'


def _comparisons(run: RunData) -> str:
    """The baseline-explainer and second-judge sections, where the run has them."""
    from autointerp.report.comparisons import agreement_html, baseline_html

    s, parts = run.summary, []
    if s.get("baseline_explainer"):
        name = s["baseline_explainer"].get("name") or "the baseline"
        parts.append(_section(f"Lift over {name}", _guarded(baseline_html, s), "baseline"))
    if s.get("judge_agreement"):
        parts.append(_section("Agreement of two judges", _guarded(agreement_html, s), "agreement"))
    return "".join(parts)


def _calibration(run: RunData) -> str:
    """The known-answer section (only when the run has one)."""
    from autointerp.report.calibration import calibration_html

    body = _guarded(calibration_html, run.summary)
    return _section("Calibration: the judge on known-answer latents", body, "calibration") if body else ""


def summary_html(run: RunData, cards: list[dict[str, Any]]) -> str:
    """The whole summary section; `cards` fill in what the summary lacks (counts, failures)."""
    return "".join([
        _guarded(header_html, run, cards),
        _guarded(counts_html, run, cards),
        _section("Scores", _guarded(metrics_html, run), "scores"),
        _comparisons(run),
        _calibration(run),
        '<div class="columns">',
        _section("Cost and time", _guarded(usage_html, run), "usage"),
        _section("Cache", _guarded(cache_html, run), "cache"),
        _section("Failures and skipped latents", _guarded(failures_html, run, cards), "failures"),
        "</div>",
        _guarded(config_html, run),
    ])
