"""The report's calibration section: the judge on known-answer latents beside the real latents, and the verdict.

Built from `summary.json`'s `calibration` block (absent without `interpret.calibration`); every piece
of text from the run passes through `xml_escape`.
"""

from __future__ import annotations

import math
from typing import Any

from autointerp.report.plots import xml_escape as esc

HEADLINE = ("balanced_accuracy", "auroc", "correlation", "f1", "accuracy")
"""The headline metric of a scorer, as the rest of the report chooses it."""


def _figure(m: dict[str, Any] | None) -> str:
    """"0.51 [0.44, 0.58]", escaped; a dash when missing."""
    if not m:
        return "–"

    def f(v: Any) -> str:
        return f"{v:.2f}" if isinstance(v, (int, float)) and math.isfinite(v) else "–"

    return esc(f"{f(m.get('mean'))} [{f(m.get('ci_low'))}, {f(m.get('ci_high'))}]")


def _scores_table(block: dict[str, Any]) -> str:
    rows = []
    for scorer, entry in block.get("per_scorer", {}).items():
        known = entry.get("known_answer") or {}
        name = next((m for m in HEADLINE if m in known), None)
        if name is None:
            continue
        real = "<br>".join(f"{esc(hp)}: {_figure(by.get(name))}" for hp, by in (entry.get("real") or {}).items()) or "–"
        chance = known[name].get("chance")
        rows.append(f"<tr><td>{esc(scorer)}</td><td>{esc(name)}</td><td>{_figure(known[name])}</td>"
                    f"<td>{esc(chance if chance is None else round(chance, 3))}</td><td>{real}</td></tr>")
    head = "<tr><th>scorer</th><th>metric</th><th>known-answer latents</th><th>chance</th><th>real latents</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _latents_table(block: dict[str, Any]) -> str:
    rows = []
    for row in block.get("latents", []):
        said = row.get("explanation") if row.get("explanation") is not None else f"no explanation: {row.get('error')}"
        scores = ", ".join(f"{s} {v:.2f}" for s, by in (row.get("scores") or {}).items() for v in by.values()
                           if isinstance(v, (int, float)) and math.isfinite(v))
        rows.append(f"<tr><td>{esc(row.get('set'))}</td><td>{esc(row.get('description'))}</td><td>{esc(said)}</td>"
                    f"<td>{'yes' if row.get('names_set') else 'no'}</td><td>{esc(scores)}</td></tr>")
    head = "<tr><th>set</th><th>fires on</th><th>explanation</th><th>names it</th><th>scores</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def calibration_html(summary: dict[str, Any]) -> str:
    """The section's body, or "" when the run has no calibration block."""
    block = summary.get("calibration")
    if not block:
        return ""
    return (f'<p class="verdict"><b>{esc(block.get("verdict"))}</b></p>' + _scores_table(block) + _latents_table(block)
            + f'<p class="note">known-answer latents fire exactly on a set of tokens of the run\'s own text; their '
            f'results are under {esc(block.get("folder"))}/, apart from the real latents\'.</p>')
