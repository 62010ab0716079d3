"""The report's comparison sections: the explainer's lift over the baseline explainer, and the
agreement of two judges, both read from `summary.json` (escaped like the rest of the summary)."""

from __future__ import annotations

from typing import Any

from autointerp.report.cells import num as _num
from autointerp.report.cells import table as _table
from autointerp.report.plots import xml_escape as esc


def _interval(block: dict[str, Any], value: str, low: str, high: str) -> str:
    return f"<b>{_num(block.get(value))}</b> [{_num(block.get(low))}, {_num(block.get(high))}]"


def baseline_html(summary: dict[str, Any]) -> str:
    """Per hookpoint, scorer and metric: the explainer's mean, the baseline's mean, the lift and its interval."""
    block = summary.get("baseline_explainer") or {}
    name = str(block.get("name") or "baseline")
    per_hp = summary.get("per_hookpoint") or {}
    rows = []
    for hp, by_scorer in (block.get("lift") or {}).items():
        for scorer, metrics in (by_scorer or {}).items():
            for metric, m in (metrics or {}).items():
                ours = (((per_hp.get(hp) or {}).get(scorer) or {}).get(metric) or {}).get("mean")
                rows.append([esc(hp), esc(scorer), esc(metric), _num(ours), _num(m.get("baseline")),
                             _interval(m, "lift", "lift_ci_low", "lift_ci_high"), _num(m.get("n"))])
    if not rows:
        return f'<p class="note">no latent was scored with both the explainer and {esc(name)}</p>'
    note = (f'<p class="note">The same latents and test examples, explained by {esc(name)} (a control) and by '
            f'{esc(summary.get("explainer"))}; lift = explainer minus {esc(name)}, paired per latent, '
            '95% bootstrap interval over latents.</p>')
    headers = ["hookpoint", "scorer", "metric", f"{summary.get('explainer')}", name, "lift [95%]", "latents"]
    return note + _table(headers, rows, "baseline")


def agreement_html(summary: dict[str, Any]) -> str:
    """Per hookpoint and scorer: kappa, Pearson and Spearman with intervals, and the latents the judges disagree on most."""
    block = summary.get("judge_agreement") or {}
    rows, flagged = [], []
    for hp, by_scorer in (block.get("per_hookpoint") or {}).items():
        for scorer, a in (by_scorer or {}).items():
            rows.append([esc(hp), esc(scorer), esc(a.get("metric"))]
                        + [_interval(a.get(s) or {}, "value", "ci_low", "ci_high") for s in ("kappa", "pearson", "spearman")]
                        + [_num(a.get("n_latents")), _num(a.get("n_verdicts"))])
            for d in a.get("disagree_most") or []:
                link = f'<a href="#latent-{esc(d.get("latent"))}" data-goto="{esc(d.get("latent"))}">{esc(d.get("latent"))}</a>'
                flagged.append([esc(scorer), link, _num(d.get("judge")), _num(d.get("second_judge")),
                                _num(d.get("difference"))])
    if not rows:
        return '<p class="note">no latent was scored by both judges</p>'
    note = (f'<p class="note">Second judge: {esc(block.get("model"))}. Kappa on per-example verdicts; Pearson and '
            'Spearman on per-latent scores of the metric named; 95% bootstrap intervals over latents.</p>')
    html = note + _table(["hookpoint", "scorer", "metric", "Cohen's kappa", "Pearson", "Spearman", "latents",
                          "verdicts"], rows, "agreement")
    if flagged:
        html += "<h3>latents the judges disagree on most</h3>" + _table(
            ["scorer", "latent", "judge", "second judge", "difference"], flagged, "disagree")
    return html
