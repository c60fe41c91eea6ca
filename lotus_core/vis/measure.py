"""Measuring the reader on charts it did not tune on: digitiser error, OCR accuracy and
each pattern flag's precision and recall, with intervals.

    report = measure(charts=240, seed_base=SEALED_SEED_BASE)

Seeds from SEALED_SEED_BASE up are sealed: the thresholds (patterns.py), the colour and
panel rules were set on seeds below 1,000 and are never tuned on these. Each chart cycles
through the planted patterns, candles/line, light/dark and PNG/JPEG (quality 85), with a
random title form and timeframe, dates written `2026-01-05` or `Jan 5` (a fair coin) and the
labels in UTC or, on 5 of 8 charts, in another zone tagged under the price axis
(`ZONES_MIN`, to whole 4 h on 4 h bars, whose date labels sit on bars that open a local
day; both drawn from a stream of their own); breakout charts carry their planted
level and range charts a level above their highs (which a breakout flag must not take as
broken). The bars are the title's timeframe long, from a seeded start in January 2026, and
the chart is read with `at` = the close of its last bar (the time axis dates clock labels
from it).

Truth: the digitiser is scored against the rendered series (each digitised candle against
the drawn candle whose centre is within half a pitch of it, with the share of drawn candles
found; the line at each digitised column, interpolated between bar centres), in bps of
price and in panel pixels; trend, range and
breakout flags against what was planted; higher_highs and lower_lows against their own
definition on the true closes (they measure what digitising loses); each point's time
against the true time at its column (bar times interpolated between bar centres), in bars
and seconds. Intervals: Wilson 95 % for shares, a percentile bootstrap (2,000 resamples,
seeded) of the mean for errors, and of the pooled median and p95 of point time errors
resampling whole charts (1,000 resamples: a chart's points are not independent).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from PIL import Image

from lotus_core.intervals import wilson
from lotus_core.vis.patterns import FLAGS, flags_of
from lotus_core.vis.read import read_chart
from lotus_core.vis.render import ChartStyle, render_chart
from lotus_core.vis.synth import PATTERNS, planted_bars

SEALED_SEED_BASE = 1_000_000
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h")
TITLE_FORMS = ("{sym} {tf}", "{sym}USDT {tf}", "{sym}-USD {tf}")
PLANTED = {"trend_up", "trend_down", "range", "breakout_up", "breakout_down"}
BAR_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240}
ZONES_MIN = (0, 0, 0, -300, 60, 120, 330, 540)  # the labels' zone, minutes east of UTC


def bootstrap_mean(x: np.ndarray, seed: int = 7, reps: int = 2000) -> tuple[float, float]:
    if x.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (reps, x.size))].mean(axis=1)
    return (float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)))


@dataclass
class ChartScore:
    """One chart's truth and what the reader made of it."""

    seed: int
    pattern: str
    kind: str
    theme: str
    fmt: str
    status: str
    reason: str | None = None
    err_bps: float | None = None
    err_px: float | None = None
    candles_found: float | None = None
    symbol_ok: bool = False
    timeframe_ok: bool = False
    axis_ok: bool = False
    labels_truth: int = 0
    labels_read: int = 0
    labels_wrong: int = 0
    time_read: bool = False
    time_reason: str | None = None
    time_err_bars: list[float] = field(default_factory=list)
    bar_s: float = 0.0
    month_names: bool = False  # its dates were drawn `Jan 5` (and it drew dates)
    utc_offset_min: int = 0
    truth_flags: dict[str, bool] = field(default_factory=dict)
    read_flags: dict[str, bool] = field(default_factory=dict)


def _chart(i: int, seed_base: int) -> tuple[Any, ...]:
    seed = seed_base + i
    rng = np.random.default_rng(seed + 17)
    pattern = PATTERNS[i % len(PATTERNS)]
    kind = ("candles", "line")[(i // len(PATTERNS)) % 2]
    theme = ("light", "dark")[(i // (2 * len(PATTERNS))) % 2]
    fmt = ("png", "jpeg")[(i // (4 * len(PATTERNS))) % 2]
    tf = TIMEFRAMES[int(rng.integers(len(TIMEFRAMES)))]
    form = TITLE_FORMS[int(rng.integers(len(TITLE_FORMS)))]
    bar = BAR_MINUTES[tf]
    start = datetime(2026, 1, 1) + timedelta(days=int(rng.integers(0, 28)),
                                             minutes=bar * int(rng.integers(0, 1440 // bar)))
    return seed, pattern, kind, theme, fmt, tf, form, start


def _label_style(seed: int) -> tuple[bool, int]:
    """(month names, zone minutes) of a chart's time labels, from a stream of their own."""
    lab = np.random.default_rng(seed + 31)
    return bool(lab.integers(2)), int(ZONES_MIN[int(lab.integers(len(ZONES_MIN)))])


def score_chart(i: int, seed_base: int = SEALED_SEED_BASE) -> ChartScore:
    """Render sealed chart number i, read it, score every step."""
    seed, pattern, kind, theme, fmt, tf, form, start = _chart(i, seed_base)
    months, zone = _label_style(seed)
    if BAR_MINUTES[tf] >= 240:  # date labels sit on bars that open a local day
        zone = 240 * round(zone / 240)
    bar_s = 60.0 * BAR_MINUTES[tf]
    bars = planted_bars(pattern, seed)
    level = bars.level
    if pattern == "range":
        level = float(bars.high.max() + 0.15 * (bars.high.max() - bars.low.min()))
    style = ChartStyle(kind=kind, theme=theme, month_names=months, utc_offset_min=zone,
                       zone_tag=zone != 0)
    img, truth = render_chart(bars, style,
                              title=form.format(sym=bars.symbol, tf=tf), level=level,
                              start=start, bar_minutes=BAR_MINUTES[tf])
    if fmt == "jpeg":
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=85)
        img = Image.open(io.BytesIO(buf.getvalue()))
    t0 = start.replace(tzinfo=UTC).timestamp()
    r = read_chart(img, at=datetime.fromtimestamp(t0 + bar_s * bars.n, UTC))
    truth_flags = {f: (pattern == f) for f in PLANTED}
    own = flags_of(bars.close, level)
    truth_flags.update({"higher_highs": own["higher_highs"], "lower_lows": own["lower_lows"]})
    s = ChartScore(seed=seed, pattern=pattern, kind=kind, theme=theme, fmt=fmt,
                   status=r.status, reason=r.reason, truth_flags=truth_flags,
                   symbol_ok=r.symbol == bars.symbol, timeframe_ok=r.timeframe == tf,
                   month_names=any(c.isalpha() for _, t in truth.time_labels for c in t),
                   utc_offset_min=zone)
    true_vals = {round(p, 8) for p, _ in truth.labels}
    s.labels_truth = len(true_vals)
    if r.axis is not None:
        read_vals = [round(p, 8) for _, p, _ in r.axis["labels"]]
        s.axis_ok = sorted(read_vals) == sorted(true_vals)
        s.labels_read = len(true_vals & set(read_vals))
        s.labels_wrong = sum(1 for v in read_vals if v not in true_vals)
    if r.status != "read":
        return s
    s.read_flags = {f: f in r.pattern_flags for f in FLAGS}
    s.time_read, s.time_reason, s.bar_s = r.t_ms is not None, r.time_reason, bar_s
    if r.t_ms is not None:
        true_s = t0 + bar_s * np.interp(r.x, truth.xs, np.arange(bars.n))
        s.time_err_bars = (np.abs(np.asarray(r.t_ms) / 1000.0 - true_s) / bar_s).tolist()
    est = np.asarray(r.close)
    if r.kind != kind:
        return s
    if kind == "candles":
        pitch = float(np.median(np.diff(truth.xs)))
        nearest = np.abs(np.asarray(r.x)[:, None] - truth.xs[None, :]).argmin(axis=1)
        hit = np.abs(np.asarray(r.x) - truth.xs[nearest]) <= pitch / 2
        s.candles_found = len(set(nearest[hit].tolist())) / bars.n
        est, ref = est[hit], bars.close[nearest[hit]]
    else:
        ref = np.interp(r.x, truth.xs, bars.close)
    px = (truth.price_hi - truth.price_lo) / (truth.panel[3] - truth.panel[1])
    s.err_bps = float(np.mean(np.abs(est / ref - 1)) * 1e4)
    s.err_px = float(np.mean(np.abs(est - ref)) / px)
    return s


def pooled_quantiles(errs: list[np.ndarray], qs: tuple[float, ...] = (50, 95), seed: int = 7,
                     reps: int = 1000) -> dict[str, Any]:
    """Quantiles of the pooled point errors, with bootstrap intervals over whole charts."""
    if not errs:
        return {f"p{q:g}": None for q in qs} | {f"p{q:g}_ci": (math.nan, math.nan) for q in qs}
    rng = np.random.default_rng(seed)
    boots = np.array([np.percentile(np.concatenate([errs[k] for k in pick]), qs)
                      for pick in rng.integers(0, len(errs), (reps, len(errs)))])
    est = np.percentile(np.concatenate(errs), qs)
    out: dict[str, Any] = {}
    for j, q in enumerate(qs):
        out[f"p{q:g}"] = float(est[j])
        out[f"p{q:g}_ci"] = (float(np.percentile(boots[:, j], 2.5)),
                             float(np.percentile(boots[:, j], 97.5)))
    return out


def _by_bar(timed: list[ChartScore], secs: list[np.ndarray]) -> dict[str, Any]:
    """Median and p95 of the point time errors in seconds, per bar length (seconds)."""
    out: dict[str, Any] = {}
    for bar in sorted({s.bar_s for s in timed}):
        e = np.concatenate([x for x, s in zip(secs, timed, strict=True) if s.bar_s == bar])
        out[f"{bar:g}"] = {"charts": sum(1 for s in timed if s.bar_s == bar),
                           "p50": float(np.median(e)), "p95": float(np.percentile(e, 95))}
    return out


def _time_summary(scores: list[ChartScore]) -> dict[str, Any]:
    n = len(scores)
    timed = [s for s in scores if s.time_read]
    bars = [np.asarray(s.time_err_bars) for s in timed]
    secs = [b * s.bar_s for b, s in zip(bars, timed, strict=True)]
    wrong_day = sum(1 for b, s in zip(bars, timed, strict=True)
                    if b.size and float(np.median(b)) * s.bar_s >= 43_200)
    return {"k": len(timed), "n": n, "share": len(timed) / n if n else None,
            "ci": wilson(len(timed), n), "points": int(sum(b.size for b in bars)),
            "err_bars": pooled_quantiles(bars), "err_s": pooled_quantiles(secs),
            "wrong_day": wrong_day, "by_bar_s": _by_bar(timed, secs),
            "by_form": {"month names": _form([s for s in scores if s.month_names]),
                        "another zone": _form([s for s in scores if s.utc_offset_min])},
            "reasons": sorted({s.time_reason for s in scores if s.time_reason})}


def _form(scores: list[ChartScore]) -> dict[str, Any]:
    """Share of a label form's charts whose times were read, and their median point error
    in bars with its interval (whole charts resampled)."""
    timed = [s for s in scores if s.time_read]
    errs = [np.asarray(s.time_err_bars) for s in timed]
    return {"k": len(timed), "n": len(scores), "ci": wilson(len(timed), len(scores)),
            "err_bars": pooled_quantiles(errs, qs=(50,))}


def summarise(scores: list[ChartScore]) -> dict[str, Any]:
    """The figures of a set of scored charts (see the module doc for the intervals)."""
    n = len(scores)
    read = [s for s in scores if s.status == "read"]
    out: dict[str, Any] = {"charts": n, "read": len(read), "read_ci": wilson(len(read), n)}
    for kind in ("candles", "line"):
        e = np.array([s.err_bps for s in scores if s.kind == kind and s.err_bps is not None])
        p = np.array([s.err_px for s in scores if s.kind == kind and s.err_px is not None])
        total = sum(1 for s in scores if s.kind == kind)
        found = np.array([s.candles_found for s in scores
                          if s.kind == kind and s.candles_found is not None])
        out[f"{kind}_err_bps"] = {
            "scored": int(e.size), "of": total, "mean": float(e.mean()) if e.size else None,
            "mean_ci": bootstrap_mean(e), "median": float(np.median(e)) if e.size else None,
            "p95": float(np.percentile(e, 95)) if e.size else None,
            "mean_px": float(p.mean()) if p.size else None, "mean_px_ci": bootstrap_mean(p),
            "candles_found": float(found.mean()) if found.size else None}
    for key in ("symbol_ok", "timeframe_ok", "axis_ok"):
        k = sum(bool(getattr(s, key)) for s in scores)
        out[key] = {"k": k, "n": n, "share": k / n if n else None, "ci": wilson(k, n)}
    lt, lr, lw = (sum(getattr(s, k) for s in scores)
                  for k in ("labels_truth", "labels_read", "labels_wrong"))
    out["axis_labels"] = {"truth": lt, "read": lr, "recall": lr / lt if lt else None,
                          "recall_ci": wilson(lr, lt), "wrong_in_fit": lw,
                          "wrong_share_ci": wilson(lw, lr + lw)}
    flags: dict[str, Any] = {}
    for f in FLAGS:
        tp = sum(1 for s in read if s.truth_flags.get(f) and s.read_flags.get(f))
        fp = sum(1 for s in read if not s.truth_flags.get(f) and s.read_flags.get(f))
        fn = sum(1 for s in scores if s.truth_flags.get(f) and not s.read_flags.get(f))
        flags[f] = {"tp": tp, "fp": fp, "fn": fn,
                    "precision": tp / (tp + fp) if tp + fp else None,
                    "precision_ci": wilson(tp, tp + fp),
                    "recall": tp / (tp + fn) if tp + fn else None,
                    "recall_ci": wilson(tp, tp + fn)}
    out["flags"] = flags
    out["time_axis"] = _time_summary(scores)
    out["unreadable_reasons"] = sorted({s.reason for s in scores if s.reason})
    return out


def measure(charts: int = 240, seed_base: int = SEALED_SEED_BASE) -> dict[str, Any]:
    """Score `charts` sealed charts and summarise them."""
    return summarise([score_chart(i, seed_base) for i in range(charts)])
