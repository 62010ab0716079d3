"""Table cells of the report's summary: numbers, escaped names, HTML tables."""

from __future__ import annotations

import math
import re
from typing import Any

from autointerp.report.plots import xml_escape as esc


def num(value: Any, digits: int = 3) -> str:
    """A number for a table cell; anything else is shown as text, missing as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return esc(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}" if math.isfinite(value) else esc(value)


def table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    """An HTML table; cells must already be escaped."""
    head = "".join(f"<th>{breakable(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def breakable(name: Any) -> str:
    """A dotted name (a hookpoint) escaped, with line-break opportunities after its dots and underscores."""
    return re.sub(r"([._])", r"\1<wbr>", esc(name))
