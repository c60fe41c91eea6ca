"""Small deterministic SVG charts for the Dagster UI (no plotting dependency).

Dagster renders Markdown metadata and allows `data:` image sources, so a chart is an SVG
string embedded as `![alt](data:image/svg+xml;base64,...)` (see `image_md`). The same
inputs give byte-identical SVG: no timestamps, no random ids, fixed number formatting.
"""

from __future__ import annotations

import base64
import math
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
FONT = 'font-family="Helvetica,Arial,sans-serif"'

# One colour per detector in every plot (forest, priors over time, the Loom): a reader who
# learns "mean_reversion_z_v1 is green" in one figure can trust it in the next. Keyed by the
# ids in lotus_core/signals/detectors.yaml; an id not listed gets a stable colour from
# EXTRA by its CRC (no dependence on which detectors happen to be in tonight's plot). `*`,
# all detectors (the pooled lessons and the patch keys' wildcard, lotus_core.report.names),
# has a colour of its own that no detector gets.
DETECTOR_COLOURS = {
    "breakout_retest_v1": "#1f77b4", "breakout_retest_fast_v1": "#17becf",
    "divergence_rsi_macd_v1": "#9467bd", "divergence_rsi_macd_slow_v1": "#e377c2",
    "mean_reversion_z_v1": "#2ca02c", "mean_reversion_fast_v1": "#bcbd22",
    "sweep_flow_v1": "#d62728", "sweep_stall_v1": "#ff7f0e", "flow_pressure_v1": "#8c564b",
    "*": "#e6ab02",
}
EXTRA = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d",
         "#31a354", "#756bb1", "#636363")
COIN_COLOURS = {"BTC": "#f7931a", "ETH": "#3c3c3d", "SOL": "#9945ff"}


def detector_colour(detector: str) -> str:
    """The detector's colour, the same in every plot."""
    if detector in DETECTOR_COLOURS:
        return DETECTOR_COLOURS[detector]
    return EXTRA[zlib.crc32(detector.encode()) % len(EXTRA)]


def coin_colour(coin: str) -> str:
    return COIN_COLOURS.get(coin) or EXTRA[zlib.crc32(coin.encode()) % len(EXTRA)]


# Where a label may break inside a space-free token (after the character): rules and keys
# such as `oi_pctl_bin=hi&dir=long` or `mx_bin=lo/theta`.
BREAK_AFTER = "&=_/"
_PIECES = re.compile(f"[^{re.escape(BREAK_AFTER)}]*[{re.escape(BREAK_AFTER)}]|"
                     f"[^{re.escape(BREAK_AFTER)}]+")


def _fit(piece: str, width: int) -> str:
    """`piece` cut to `width` characters with an ellipsis when longer (a token without any
    break point is never split across lines)."""
    return piece if len(piece) <= width else piece[:max(width - 1, 0)] + "\u2026"


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` characters, broken at word boundaries only: at
    spaces first, then after `&`, `=`, `_` or `/` inside a word longer than a line (the
    break character ends its line, so joining the lines gives the word back). A token with
    no break point that is longer than a line is cut with an ellipsis, never split."""
    out: list[str] = []
    line = ""
    for word in text.split(" "):
        if not line:
            if len(word) <= width:
                line = word
                continue
        elif len(line) + 1 + len(word) <= width:
            line = f"{line} {word}"
            continue
        elif len(word) <= width:
            out.append(line)
            line = word
            continue
        # a word longer than a line: its pieces, the current line's room first
        sep = " " if line else ""
        for piece in _PIECES.findall(word):
            piece = _fit(piece, width)
            if len(line) + len(sep) + len(piece) <= width:
                line = f"{line}{sep}{piece}"
            else:
                if line:
                    out.append(line)
                line = piece
            sep = ""
    if line or not out:
        out.append(line)
    return out


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


def _legend(entries: Sequence[tuple[str, str, str]], x0: float, y0: float,
            width: float) -> tuple[list[str], float]:
    """Legend entries (label, colour, marker: "filled" | "hollow" | "line" | "dash") laid out
    left to right, wrapping at `width`; full labels. Returns the SVG and its height."""
    body: list[str] = []
    x, y = x0, y0
    for label, colour, marker in entries:
        w = 26 + 6.2 * len(label)
        if x > x0 and x + w > x0 + width:
            x, y = x0, y + 16
        if marker in ("filled", "hollow"):
            body.append(f'<circle cx="{_f(x + 6)}" cy="{_f(y - 4)}" r="4.5" stroke="{colour}" '
                        f'stroke-width="1.5" fill="{colour if marker == "filled" else "white"}"/>')
        else:
            dash = ' stroke-dasharray="4,3"' if marker == "dash" else ""
            body.append(f'<line x1="{_f(x)}" y1="{_f(y - 4)}" x2="{_f(x + 14)}" '
                        f'y2="{_f(y - 4)}" stroke="{colour}" stroke-width="2.5"{dash}/>')
        body.append(_text(x + 19, y, label, 10))
        x += w + 12
    return body, y - y0 + 16


def _tick_label(t: float, ticks: Sequence[float], value_format: str) -> str:
    """`value_format`, or "thousands": separators and as many decimals as the tick step
    needs (a flat 100,000 USD curve reads 99,999.50 / 100,000.00, not 100,000 twice)."""
    if value_format != "thousands":
        return value_format.format(t)
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    return f"{t:,.{decimals}f}"


def _ylabel(x: float, y: float, label: str) -> str:
    return (f'<text x="{_f(x)}" y="{_f(y)}" font-size="11" text-anchor="middle" fill="#555" '
            f'transform="rotate(-90 {_f(x)} {_f(y)})" {FONT}>{escape(label)}</text>')


def forest(labels: Sequence[str], est: Sequence[float], lo: Sequence[float],
           hi: Sequence[float], title: str, unit: str = "bps",
           colors: Sequence[str] | None = None, filled: Sequence[bool] | None = None,
           legend: Sequence[tuple[str, str, str]] = ()) -> str:
    """A forest plot: one row per label (wrapped at word boundaries, `wrap`), the estimate
    as a dot, its CI as a bar, zero marked. `filled[i]` False draws a hollow dot (e.g. a
    proposed lesson beside active ones); a bar is thick when its CI excludes zero.
    `legend`: (label, colour, marker) entries shown under the axis."""
    n = len(labels)
    left, width, chars = 470, 980, 74
    wrapped = [wrap(lab, chars) for lab in labels]
    heights = [max(22, 13 * len(w) + 9) for w in wrapped]
    top = 40
    bottom = top + sum(heights)
    vals = [v for v in (*lo, *hi, *est, 0.0) if math.isfinite(v)]
    vmin, vmax = min(vals), max(vals)
    pad = 0.05 * (vmax - vmin or 1.0)
    x = _scale(vmin - pad, vmax + pad, left, width - 20)
    body = []
    for t in _ticks(vmin - pad, vmax + pad):
        body.append(f'<line x1="{_f(x(t))}" y1="{top}" x2="{_f(x(t))}" y2="{bottom}" '
                    f'stroke="#eee"/>')
        body.append(_text(x(t), bottom + 14, f"{t:g}", 10, "middle", "#555"))
    body.append(f'<line x1="{left}" y1="{bottom}" x2="{width - 20}" y2="{bottom}" '
                f'stroke="#999"/>')
    body.append(f'<line x1="{_f(x(0))}" y1="{top - 4}" x2="{_f(x(0))}" y2="{bottom + 2}" '
                f'stroke="#888" stroke-dasharray="4,3"/>')
    body.append(_text((left + width) / 2, bottom + 30, f"uplift ({unit}), 90 % CI", 11,
                      "middle", "#555"))
    y0 = top
    for i in range(n):
        y = y0 + heights[i] / 2
        if i % 2:
            body.append(f'<rect x="10" y="{_f(y0)}" width="{width - 20}" '
                        f'height="{heights[i]}" fill="#f7f7f7"/>')
        c = colors[i] if colors else PALETTE[0]
        for j, line in enumerate(wrapped[i]):
            body.append(_text(left - 10, y - 6.5 * (len(wrapped[i]) - 1) + 13 * j + 4, line,
                              10, "end"))
        if math.isfinite(lo[i]) and math.isfinite(hi[i]):
            solid = lo[i] > 0 or hi[i] < 0
            body.append(f'<line x1="{_f(x(lo[i]))}" y1="{_f(y)}" x2="{_f(x(hi[i]))}" '
                        f'y2="{_f(y)}" stroke="{c}" stroke-width="{3 if solid else 1.5}"/>')
        if math.isfinite(est[i]):
            full = filled[i] if filled is not None else True
            body.append(f'<circle cx="{_f(x(est[i]))}" cy="{_f(y)}" r="4.5" '
                        f'stroke-width="1.5" fill="{c if full else "white"}" stroke="{c}"/>')
        y0 += heights[i]
    if n == 0:
        body.append(_text(left, top + 14, "(no lessons to show)", 11))
    leg, h = _legend(legend, 20, bottom + 52, width - 40)
    return _svg(width, int(bottom + 52 + h + 4), [*body, *leg], title)


def lines(x_labels: Sequence[str], series: Mapping[str, Sequence[float]], title: str,
          y_label: str = "", y_range: tuple[float, float] | None = None,
          reference: float | None = None, x_label: str = "trading day (UTC)",
          colours: Mapping[str, str] | None = None, reference_label: str = "",
          value_format: str = "{:g}") -> str:
    """One polyline per series over categorical x (e.g. trading days), points marked, NaN
    gaps skipped; units on both axes, a full-name legend under the plot."""
    width, height, left, right, top, bottom = 820, 300, 78, 24, 34, 52
    vals = [v for s in series.values() for v in s if math.isfinite(v)]
    if reference is not None:
        vals.append(reference)
    lo, hi = y_range if y_range else ((min(vals), max(vals)) if vals else (0.0, 1.0))
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    if not y_range:
        lo, hi = lo - 0.06 * (hi - lo), hi + 0.06 * (hi - lo)
    n = max(len(x_labels), 1)
    pad = 0.5 if n == 1 else 0.0
    x = _scale(-pad, max(n - 1, 1) + pad if n > 1 else pad, left + 12, width - right - 12)
    y = _scale(lo, hi, height - bottom, top)
    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" '
            f'y2="{height - bottom}" stroke="#999"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>']
    ticks = _ticks(lo, hi)
    for t in ticks:
        body.append(f'<line x1="{left}" y1="{_f(y(t))}" x2="{width - right}" y2="{_f(y(t))}" '
                    f'stroke="#eee"/>')
        body.append(_text(left - 6, y(t) + 4, _tick_label(t, ticks, value_format), 10, "end",
                          "#555"))
    step = max(1, len(x_labels) // 10)
    for i, lab in enumerate(x_labels):
        if i % step == 0 or i == len(x_labels) - 1:
            body.append(_text(x(i), height - bottom + 16, lab, 10, "middle", "#555"))
    body.append(_text((left + width - right) / 2, height - bottom + 34, x_label, 11,
                      "middle", "#555"))
    body.append(_ylabel(16, top + (height - top - bottom) / 2, y_label))
    entries: list[tuple[str, str, str]] = []
    if reference is not None:
        body.append(f'<line x1="{left}" y1="{_f(y(reference))}" x2="{width - right}" '
                    f'y2="{_f(y(reference))}" stroke="#888" stroke-dasharray="4,3"/>')
        if reference_label:
            entries.append((reference_label, "#888", "dash"))
    for k, (name, vs) in enumerate(series.items()):
        c = (colours or {}).get(name) or PALETTE[k % len(PALETTE)]
        pts = [(x(i), y(v)) for i, v in enumerate(vs) if math.isfinite(v)]
        if len(pts) > 1:
            body.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="'
                        + " ".join(f"{_f(a)},{_f(b)}" for a, b in pts) + '"/>')
        for a, b in pts:
            body.append(f'<circle cx="{_f(a)}" cy="{_f(b)}" r="3.5" fill="{c}"/>')
        entries.insert(k, (name, c, "line"))
    if not vals:
        body.append(_text(left + 20, top + 20, "(no data yet)", 11))
    leg, h = _legend(entries, left, height + 4, width - left - right)
    return _svg(width, int(height + h + 4), [*body, *leg], title)


def panels(x_labels: Sequence[str], series: Mapping[str, Sequence[float]], title: str,
           y_label: str, colours: Mapping[str, str], x_label: str = "trading day (UTC)",
           columns: int = 3) -> str:
    """Small multiples: one panel per series on a shared y scale, so series that coincide
    do not hide each other; each panel is titled with the series' full name."""
    names = list(series)
    pw, ph, gap_x, gap_y, left, top = 300, 150, 24, 62, 70, 46
    cols = max(1, min(columns, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    width = left + cols * (pw + gap_x)
    height = top + rows * (ph + gap_y) + 10
    vals = [v for s in series.values() for v in s if math.isfinite(v)]
    lo, hi = (min(0.0, *vals), max(vals)) if vals else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    hi += 0.08 * (hi - lo)
    n = max(len(x_labels), 1)
    body: list[str] = [_ylabel(16, top + rows * (ph + gap_y) / 2, y_label),
                       _text(left + cols * (pw + gap_x) / 2, height - 6, x_label, 11,
                             "middle", "#555")]
    for k, name in enumerate(names):
        px0 = left + (k % cols) * (pw + gap_x)
        py0 = top + (k // cols) * (ph + gap_y)
        c = colours.get(name, PALETTE[k % len(PALETTE)])
        pad = 0.5 if n == 1 else 0.0
        x = _scale(-pad, max(n - 1, 1) + pad if n > 1 else pad, px0 + 10, px0 + pw - 10)
        y = _scale(lo, hi, py0 + ph, py0 + 4)
        body.append(f'<rect x="{px0}" y="{py0}" width="{pw}" height="{ph}" fill="none" '
                    f'stroke="#ccc"/>')
        body.append(_text(px0 + 4, py0 - 6, name, 11, "start", c))
        for t in _ticks(lo, hi, 3):
            body.append(f'<line x1="{px0}" y1="{_f(y(t))}" x2="{px0 + pw}" y2="{_f(y(t))}" '
                        f'stroke="#eee"/>')
            body.append(_text(px0 - 4, y(t) + 4, f"{t:g}", 9, "end", "#555"))
        step = max(1, len(x_labels) // 4)
        for i, lab in enumerate(x_labels):
            if i % step == 0 or i == len(x_labels) - 1:
                body.append(_text(x(i), py0 + ph + 13, lab, 9, "middle", "#555"))
        pts = [(x(i), y(v)) for i, v in enumerate(series[name]) if math.isfinite(v)]
        if len(pts) > 1:
            body.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="'
                        + " ".join(f"{_f(a)},{_f(b)}" for a, b in pts) + '"/>')
        for a, b in pts:
            body.append(f'<circle cx="{_f(a)}" cy="{_f(b)}" r="3" fill="{c}"/>')
    if not names:
        body.append(_text(left, top + 20, "(nothing to plot yet)", 11))
    return _svg(width, height, body, title)


def timeline(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str,
             x_label: str, y_label: str, colours: Mapping[str, str],
             marks: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
             x_range: tuple[float, float] | None = None, mark_label: str = "") -> str:
    """Step lines over a numeric x (e.g. hours of the trading day), one per series, with
    optional marked points per series (e.g. the tickets that traded)."""
    width, height, left, right, top, bottom = 820, 280, 78, 24, 34, 52
    xs = [v for a, _ in series.values() for v in a]
    ys = [v for _, b in series.values() for v in b if math.isfinite(v)]
    x0, x1 = x_range if x_range else ((min(xs), max(xs)) if xs else (0.0, 24.0))
    lo, hi = (min(0.0, *ys), max(0.0, *ys)) if ys else (-1.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    lo, hi = lo - 0.08 * (hi - lo), hi + 0.08 * (hi - lo)
    x = _scale(x0, x1, left, width - right)
    y = _scale(lo, hi, height - bottom, top)
    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" '
            f'y2="{height - bottom}" stroke="#999"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>',
            _text((left + width - right) / 2, height - bottom + 34, x_label, 11, "middle",
                  "#555"),
            _ylabel(16, top + (height - top - bottom) / 2, y_label)]
    for t in _ticks(lo, hi):
        body.append(f'<line x1="{left}" y1="{_f(y(t))}" x2="{width - right}" y2="{_f(y(t))}" '
                    f'stroke="#eee"/>')
        body.append(_text(left - 6, y(t) + 4, f"{t:g}", 10, "end", "#555"))
    for t in _ticks(x0, x1, 8):
        body.append(_text(x(t), height - bottom + 16, f"{t:g}", 10, "middle", "#555"))
    entries = []
    for k, (name, (a, b)) in enumerate(series.items()):
        c = colours.get(name, PALETTE[k % len(PALETTE)])
        pts = [(x(u), y(v)) for u, v in zip(a, b, strict=True) if math.isfinite(v)]
        if pts:
            path = [f"M{_f(pts[0][0])},{_f(pts[0][1])}"]
            for qa, qb in pts[1:]:
                path.append(f"H{_f(qa)}V{_f(qb)}")
            path.append(f"H{_f(x(x1))}")
            body.append(f'<path d="{"".join(path)}" fill="none" stroke="{c}" '
                        f'stroke-width="2"/>')
        entries.append((name, c, "line"))
        ma, mb = (marks or {}).get(name, ((), ()))
        for u, v in zip(ma, mb, strict=True):
            body.append(f'<circle cx="{_f(x(u))}" cy="{_f(y(v))}" r="3.5" fill="{c}" '
                        f'stroke="white"/>')
    if marks and mark_label:
        entries.append((mark_label, "#555", "filled"))
    if not xs:
        body.append(_text(left + 20, top + 20, "(no data)", 11))
    leg, h = _legend(entries, left, height + 4, width - left - right)
    return _svg(width, int(height + h + 4), [*body, *leg], title)


def loom(columns: Sequence[Sequence[tuple[str, str, str]]], edges: Sequence[tuple[str, str]],
         title: str, column_names: Sequence[str], note: str = "") -> str:
    """The Loom: nodes in columns (lessons -> braids -> meta braids -> the active patch),
    each node (id, label, colour) with its label wrapped at word boundaries (`wrap`), and
    edges parent -> child drawn as curves; `note` (e.g. what `*` means) under the columns."""
    col_w, top, chars = 290, 56, 44
    wrapped = [[wrap(label, chars) for _, label, _ in col] for col in columns]
    box_h = [[13 * len(w) + 10 for w in col] for col in wrapped]
    width = 20 + col_w * max(len(columns), 1)
    height = top + max((sum(h + 8 for h in col) for col in box_h), default=30) + 20
    pos: dict[str, tuple[float, float, float]] = {}
    body = []
    for ci, col in enumerate(columns):
        cx = 20 + ci * col_w
        body.append(_text(cx, 40, column_names[ci], 11, "start", "#555"))
        cy = float(top)
        if not col:
            body.append(_text(cx + 6, cy + 15, "(none)", 10, "start", "#999"))
        for ri, (nid, _, colour) in enumerate(col):
            h = box_h[ci][ri]
            pos[nid] = (cx, cy, h)
            body.append(f'<rect x="{cx}" y="{_f(cy)}" width="{col_w - 40}" height="{h}" '
                        f'rx="5" fill="{colour}" fill-opacity="0.18" stroke="{colour}"/>')
            for j, line in enumerate(wrapped[ci][ri]):
                body.append(_text(cx + 6, cy + 15 + 13 * j, line, 10))
            cy += h + 8
    for a, b in edges:
        if a in pos and b in pos:
            (ax, ay, ah), (bx, by, bh) = pos[a], pos[b]
            x1, y1, x2, y2 = ax + col_w - 40, ay + ah / 2, bx, by + bh / 2
            mid = (x1 + x2) / 2
            body.append(f'<path d="M{_f(x1)},{_f(y1)} C{_f(mid)},{_f(y1)} {_f(mid)},{_f(y2)} '
                        f'{_f(x2)},{_f(y2)}" fill="none" stroke="#777" stroke-width="1.2"/>')
    if note:
        for line in wrap(note, max(int((width - 40) / 6.2), 40)):
            body.append(_text(20, height, line, 10, "start", "#555"))
            height += 13
    return _svg(width, int(height), body, title)
