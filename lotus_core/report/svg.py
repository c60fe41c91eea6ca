"""Small deterministic SVG charts for the Dagster UI (no plotting dependency).

Dagster renders Markdown metadata and allows `data:` image sources, so a chart is an SVG
string embedded as `![alt](data:image/svg+xml;base64,...)` (see `image_md`). The same
inputs give byte-identical SVG: no timestamps, no random ids, fixed number formatting.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
FONT = 'font-family="Helvetica,Arial,sans-serif"'


def image_md(svg: str, alt: str) -> str:
    """Markdown that shows `svg` inline (a base64 data URI)."""
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f"![{escape(alt)}](data:image/svg+xml;base64,{data})"


def _f(x: float) -> str:
    return f"{x:.1f}"


def _text(x: float, y: float, s: str, size: int = 11, anchor: str = "start",
          fill: str = "#222") -> str:
    return (f'<text x="{_f(x)}" y="{_f(y)}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}" {FONT}>{escape(s)}</text>')


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">')
    return "".join([head, '<rect width="100%" height="100%" fill="white"/>',
                    _text(10, 18, title, 13), *body, "</svg>"])


def _scale(lo: float, hi: float, a: float, b: float) -> Callable[[float], float]:
    span = hi - lo if hi > lo else 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), default=raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def forest(labels: Sequence[str], est: Sequence[float], lo: Sequence[float],
           hi: Sequence[float], title: str, unit: str = "bps",
           colors: Sequence[str] | None = None) -> str:
    """A forest plot: one row per label, the estimate as a dot, its CI as a bar, zero
    marked; rows whose CI excludes zero are drawn solid."""
    n = len(labels)
    row, left, width = 22, 330, 760
    height = 50 + max(n, 1) * row + 30
    vals = [v for v in (*lo, *hi, *est, 0.0) if math.isfinite(v)]
    vmin, vmax = min(vals), max(vals)
    pad = 0.05 * (vmax - vmin or 1.0)
    x = _scale(vmin - pad, vmax + pad, left, width - 20)
    body = []
    top, bottom = 40, 40 + n * row
    for t in _ticks(vmin - pad, vmax + pad):
        body.append(f'<line x1="{_f(x(t))}" y1="{top}" x2="{_f(x(t))}" y2="{bottom}" '
                    f'stroke="#eee"/>')
        body.append(_text(x(t), bottom + 14, f"{t:g}", 10, "middle", "#555"))
    body.append(f'<line x1="{_f(x(0))}" y1="{top - 4}" x2="{_f(x(0))}" y2="{bottom + 2}" '
                f'stroke="#888" stroke-dasharray="4,3"/>')
    body.append(_text((left + width) / 2, bottom + 28, f"uplift ({unit}), 90 % CI", 11,
                      "middle", "#555"))
    for i in range(n):
        y = top + i * row + row / 2
        c = colors[i] if colors else PALETTE[0]
        solid = lo[i] > 0 or hi[i] < 0
        body.append(_text(left - 8, y + 4, labels[i][:52], 10, "end"))
        if math.isfinite(lo[i]) and math.isfinite(hi[i]):
            body.append(f'<line x1="{_f(x(lo[i]))}" y1="{_f(y)}" x2="{_f(x(hi[i]))}" '
                        f'y2="{_f(y)}" stroke="{c}" stroke-width="{3 if solid else 1.5}"/>')
        if math.isfinite(est[i]):
            body.append(f'<circle cx="{_f(x(est[i]))}" cy="{_f(y)}" r="4" '
                        f'fill="{c if solid else "white"}" stroke="{c}"/>')
    if n == 0:
        body.append(_text(left, top + 14, "(no lessons to show)", 11))
    return _svg(width, height, body, title)


def lines(x_labels: Sequence[str], series: Mapping[str, Sequence[float]], title: str,
          y_label: str = "", y_range: tuple[float, float] | None = None,
          reference: float | None = None) -> str:
    """One polyline per series over categorical x (e.g. trading days); NaN gaps skipped."""
    width, height, left, right, top, bottom = 760, 300, 60, 190, 34, 50
    vals = [v for s in series.values() for v in s if math.isfinite(v)]
    if reference is not None:
        vals.append(reference)
    lo, hi = y_range if y_range else ((min(vals), max(vals)) if vals else (0.0, 1.0))
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    n = max(len(x_labels), 1)
    x = _scale(0, max(n - 1, 1), left, width - right)
    y = _scale(lo, hi, height - bottom, top)
    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" '
            f'y2="{height - bottom}" stroke="#999"/>']
    for t in _ticks(lo, hi):
        body.append(f'<line x1="{left}" y1="{_f(y(t))}" x2="{width - right}" y2="{_f(y(t))}" '
                    f'stroke="#eee"/>')
        body.append(_text(left - 6, y(t) + 4, f"{t:g}", 10, "end", "#555"))
    step = max(1, len(x_labels) // 8)
    for i, lab in enumerate(x_labels):
        if i % step == 0 or i == len(x_labels) - 1:
            body.append(_text(x(i), height - bottom + 16, lab, 10, "middle", "#555"))
    if reference is not None:
        body.append(f'<line x1="{left}" y1="{_f(y(reference))}" x2="{width - right}" '
                    f'y2="{_f(y(reference))}" stroke="#888" stroke-dasharray="4,3"/>')
    body.append(_text(14, top + (height - top - bottom) / 2, y_label, 11, "start", "#555"))
    for k, (name, vs) in enumerate(series.items()):
        c = PALETTE[k % len(PALETTE)]
        pts = [(x(i), y(v)) for i, v in enumerate(vs) if math.isfinite(v)]
        if len(pts) > 1:
            body.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="'
                        + " ".join(f"{_f(a)},{_f(b)}" for a, b in pts) + '"/>')
        for a, b in pts:
            body.append(f'<circle cx="{_f(a)}" cy="{_f(b)}" r="3" fill="{c}"/>')
        body.append(f'<rect x="{width - right + 12}" y="{top + k * 16}" width="10" '
                    f'height="10" fill="{c}"/>')
        body.append(_text(width - right + 26, top + k * 16 + 9, name[:26], 10))
    return _svg(width, height, body, title)


def loom(columns: Sequence[Sequence[tuple[str, str, str]]], edges: Sequence[tuple[str, str]],
         title: str, column_names: Sequence[str]) -> str:
    """The Loom: nodes in columns (lessons -> braids -> meta braids -> the active patch),
    each node (id, label, colour), and edges parent -> child drawn as curves."""
    col_w, row_h, top = 250, 30, 56
    width = 20 + col_w * max(len(columns), 1)
    height = top + row_h * max((len(c) for c in columns), default=1) + 20
    pos: dict[str, tuple[float, float]] = {}
    body = []
    for ci, col in enumerate(columns):
        cx = 20 + ci * col_w
        body.append(_text(cx, 40, column_names[ci], 11, "start", "#555"))
        for ri, (nid, label, colour) in enumerate(col):
            cy = top + ri * row_h
            pos[nid] = (cx, cy)
            body.append(f'<rect x="{cx}" y="{cy}" width="{col_w - 40}" height="{row_h - 8}" '
                        f'rx="5" fill="{colour}" fill-opacity="0.18" stroke="{colour}"/>')
            body.append(_text(cx + 6, cy + 15, label[:36], 10))
    for a, b in edges:
        if a in pos and b in pos:
            (ax, ay), (bx, by) = pos[a], pos[b]
            x1, y1, x2, y2 = ax + col_w - 40, ay + (row_h - 8) / 2, bx, by + (row_h - 8) / 2
            mid = (x1 + x2) / 2
            body.append(f'<path d="M{_f(x1)},{_f(y1)} C{_f(mid)},{_f(y1)} {_f(mid)},{_f(y2)} '
                        f'{_f(x2)},{_f(y2)}" fill="none" stroke="#777" stroke-width="1.2"/>')
    return _svg(width, height, body, title)
