"""Hand-written SVG plots: score distributions, score versus firing rate, detection versus fuzz.

Each function returns one standalone `<svg>` string (inline in the report, also saved under
`plots/`). All text passes through `xml_escape`; numbers are formatted, never interpolated raw.
"""

from __future__ import annotations

import math
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#4b5563")
WIDTH, HEIGHT = 440, 280
MARGIN = {"left": 52, "right": 16, "bottom": 42}


def xml_escape(text: object) -> str:
    """Escape text for SVG/HTML content and attributes."""
    return escape(str(text), quote=True)


def _svg(body: list[str], title: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    """Wrap drawing elements in an <svg> with a title."""
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {width} {height}" '
            f'role="img" font-family="system-ui,sans-serif" font-size="11">')
    caption = f'<title>{xml_escape(title)}</title><text x="{width / 2:.0f}" y="18" text-anchor="middle" font-size="13" font-weight="600">{xml_escape(title)}</text>'
    return "".join([head, caption, *body, "</svg>"])


def empty_svg(title: str, message: str) -> str:
    """A placeholder plot that says why there is nothing to draw."""
    text = f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" text-anchor="middle" fill="#6b7280">{xml_escape(message)}</text>'
    return _svg([text], title)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round tick values covering [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(x: float) -> str:
    """Short tick label."""
    return f"{x:.3g}"


def _axes(x0: float, x1: float, y0: float, y1: float, box: tuple[float, float, float, float],
          x_label: str, y_label: str, x_log: bool = False) -> list[str]:
    """Frame, ticks and labels of one panel; box = (left, top, width, height) in pixels."""
    left, top, w, h = box
    out = [f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#d1d5db"/>']
    x_ticks = [float(t) for t in range(math.floor(x0), math.ceil(x1) + 1)] if x_log else _ticks(x0, x1)
    if x_log and len(x_ticks) > 8:  # keep about six decade labels
        x_ticks = x_ticks[:: math.ceil(len(x_ticks) / 6)]
    for t in x_ticks:
        x = left + (t - x0) / (x1 - x0) * w
        label = f"1e{t:.0f}" if x_log else _fmt(t)
        out.append(f'<line x1="{x:.1f}" y1="{top + h}" x2="{x:.1f}" y2="{top + h + 4}" stroke="#9ca3af"/>'
                   f'<text x="{x:.1f}" y="{top + h + 15}" text-anchor="middle" fill="#374151">{label}</text>')
    for t in _ticks(y0, y1, 4):
        y = top + h - (t - y0) / (y1 - y0) * h
        out.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{left + w}" y2="{y:.1f}" stroke="#f3f4f6"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#374151">{_fmt(t)}</text>')
    out.append(f'<text x="{left + w / 2:.0f}" y="{top + h + 32}" text-anchor="middle" fill="#111827">{xml_escape(x_label)}</text>')
    out.append(f'<text transform="translate({left - 38},{top + h / 2:.0f}) rotate(-90)" text-anchor="middle" fill="#111827">{xml_escape(y_label)}</text>')
    return out


def _legend(names: list[str]) -> tuple[list[str], int]:
    """Colour key in rows above the panel, so it never hides data; returns the SVG and the row count."""
    out, x, row = [], float(MARGIN["left"]), 0
    for k, name in enumerate(names):
        width = 27 + 6.2 * len(name)
        if x + width > WIDTH - MARGIN["right"] and x > MARGIN["left"]:
            x, row = float(MARGIN["left"]), row + 1
        y = 36 + 13 * row
        out.append(f'<rect x="{x:.0f}" y="{y - 8}" width="9" height="9" fill="{PALETTE[k % len(PALETTE)]}"/>'
                   f'<text x="{x + 13:.0f}" y="{y}" fill="#111827">{xml_escape(name)}</text>')
        x += width
    return out, (row + 1 if names else 0)


def _box(legend_rows: int) -> tuple[float, float, float, float]:
    """The panel (left, top, width, height) below the title and `legend_rows` rows of legend."""
    top = 30 + 13 * legend_rows
    return (MARGIN["left"], top, WIDTH - MARGIN["left"] - MARGIN["right"], HEIGHT - top - MARGIN["bottom"])


def histograms_svg(groups: dict[str, list[float]], title: str, x_label: str, bins: int = 20) -> str:
    """Overlaid step histograms of one value per group (e.g. each scorer's headline score)."""
    groups = {k: [v for v in vs if math.isfinite(v)] for k, vs in groups.items()}
    groups = {k: vs for k, vs in groups.items() if vs}
    if not groups:
        return empty_svg(title, "no scores to plot")
    values = [v for vs in groups.values() for v in vs]
    lo, hi = min(0.0, min(values)), max(1.0, max(values))
    width = (hi - lo) / bins
    counts = {k: [0] * bins for k in groups}
    for k, vs in groups.items():
        for v in vs:
            counts[k][min(int((v - lo) / width), bins - 1)] += 1
    top_count = max(max(c) for c in counts.values())
    legend, rows = _legend(list(groups))
    box = _box(rows)
    out = _axes(lo, hi, 0, top_count, box, x_label, "latents") + legend
    left, top, w, h = box
    for k, name in enumerate(groups):
        points = []
        for b, c in enumerate(counts[name]):
            xa, xb = left + b / bins * w, left + (b + 1) / bins * w
            y = top + h - c / top_count * h
            points += [f"{xa:.1f},{y:.1f}", f"{xb:.1f},{y:.1f}"]
        colour = PALETTE[k % len(PALETTE)]
        out.append(f'<polyline points="{left},{top + h} {" ".join(points)} {left + w},{top + h}" '
                   f'fill="{colour}" fill-opacity="0.12" stroke="{colour}" stroke-width="1.5"/>')
    return _svg(out, title)


def scatter_svg(series: dict[str, list[tuple[float, float]]], title: str, x_label: str, y_label: str,
                x_log: bool = False, diagonal: bool = False) -> str:
    """Points per series; `x_log` plots log10(x) (non-positive x dropped); `diagonal` draws y = x."""
    if x_log:
        series = {k: [(math.log10(x), y) for x, y in pts if x > 0] for k, pts in series.items()}
    series = {k: [(x, y) for x, y in pts if math.isfinite(x) and math.isfinite(y)] for k, pts in series.items()}
    series = {k: pts for k, pts in series.items() if pts}
    if not series:
        return empty_svg(title, "no latents with both values")
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    if x_log:  # whole decades, at least one
        x0, x1 = math.floor(min(xs)), math.ceil(max(xs))
        x1 = x1 if x1 > x0 else x0 + 1
    else:
        x0, x1 = min(0.0, min(xs)), max(1.0, max(xs))
    y0, y1 = min(0.0, min(ys)), max(1.0, max(ys))
    if diagonal:
        x0 = y0 = min(x0, y0)
        x1 = y1 = max(x1, y1)
    legend, rows = _legend(list(series)) if len(series) > 1 else ([], 0)
    box = _box(rows)
    left, top, w, h = box
    out = _axes(x0, x1, y0, y1, box, x_label, y_label, x_log) + legend
    px = lambda x: left + (x - x0) / ((x1 - x0) or 1) * w  # noqa: E731
    py = lambda y: top + h - (y - y0) / ((y1 - y0) or 1) * h  # noqa: E731
    if diagonal:
        out.append(f'<line x1="{px(x0):.1f}" y1="{py(y0):.1f}" x2="{px(x1):.1f}" y2="{py(y1):.1f}" stroke="#9ca3af" stroke-dasharray="4 3"/>')
    for k, (name, pts) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        dots = "".join(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.6"/>' for x, y in pts)
        out.append(f'<g fill="{colour}" fill-opacity="0.6">{dots}</g>')
    return _svg(out, title)
