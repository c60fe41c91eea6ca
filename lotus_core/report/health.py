"""Health and drift measures a researcher looks at first, as pure functions of lake tables.

Each returns plain numbers; `lotus_assets/checks.py` turns them into Dagster asset checks
(warnings) and posts a WATCHDOG_ALERT when one fails. Thresholds live in `HealthLimits` so
the docs and the tests read one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

PSI_FEATURES = ("spread_bps", "book_imb_5", "aggr_imb", "depth_5_rel", "trade_count")
# reported, not judged: volatility moves with the market's regime by design (a quiet and a
# trending hour differ by a PSI > 1), so it would alarm on normal days
PSI_INFO = ("rv_bps",)
NAN_FEATURES = ("mid_px", "spread_bps", "rv_bps", "book_imb_5", "aggr_imb", "depth_5_rel")


@dataclass(frozen=True)
class HealthLimits:
    max_dead_letter_rate: float = 0.01
    max_gap_rate: float = 0.01  # missing grid rows / expected rows, per coin
    min_publication_rate: float = 0.0005
    max_publication_rate: float = 0.5
    max_psi: float = 0.25  # the usual "significant shift" line
    max_nan_rate: float = 0.05
    stale_ms: int = 5_000
    max_stale_rate: float = 0.05
    hit_rate_z: float = 3.0  # published hit rate this many binomial SDs below expectation
    min_hit_n: int = 30
    max_firing_ratio: float = 3.0  # windows per hour vs the training window, either way
    min_firing_windows: int = 20
    psi_bins: int = 10
    min_psi_rows: int = 600  # training rows at today's hours needed before PSI is judged


LIMITS = HealthLimits()


def dead_letter_rate(raw_feed: pd.DataFrame) -> float:
    bad = float(raw_feed["dead_letters"].sum())
    total = bad + float(raw_feed["items"].sum() if "items" in raw_feed else 0.0)
    return bad / total if total > 0 else 0.0


def gap_rate(frames: pd.DataFrame) -> dict[str, float]:
    """Per coin: missing grid rows over expected rows (grid = the smallest step)."""
    out: dict[str, float] = {}
    for coin, g in frames.groupby("coin", sort=True):
        ts = np.sort(g["ts_ms"].to_numpy(dtype=np.int64))
        if len(ts) < 2:
            out[str(coin)] = 0.0
            continue
        d = np.diff(ts)
        step = int(d[d > 0].min()) if (d > 0).any() else 1000
        expected = (ts[-1] - ts[0]) // step + 1
        out[str(coin)] = float(max(expected - len(ts), 0)) / float(expected)
    return out


def nan_rates(frames: pd.DataFrame, cols: Sequence[str] = NAN_FEATURES) -> dict[str, float]:
    return {c: float(frames[c].isna().mean()) for c in cols if c in frames and len(frames)}


def stale_rate(frames: pd.DataFrame, stale_ms: int = LIMITS.stale_ms) -> float:
    if not len(frames):
        return 0.0
    return float((frames["stale_ms"].to_numpy(dtype=np.float64) > stale_ms).mean())


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = LIMITS.psi_bins) -> float:
    """Population stability index of `actual` against `expected`, on equal-width bins over
    the expected sample's 0.5-99.5 % range (the ends are open); empty bins get a 1e-4 floor.
    Equal widths, not quantile edges: a feature with few distinct values (a spread of one
    tick) would otherwise swing across an edge that sits on one of its values."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e, a = e[np.isfinite(e)], a[np.isfinite(a)]
    if len(e) < bins or len(a) < bins:
        return 0.0
    lo, hi = np.quantile(e, [0.005, 0.995])
    if not hi > lo:
        return 0.0
    edges = np.linspace(lo, hi, bins + 1)[1:-1]
    pe = np.bincount(np.searchsorted(edges, e, side="right"), minlength=bins) / len(e)
    pa = np.bincount(np.searchsorted(edges, a, side="right"), minlength=bins) / len(a)
    pe, pa = np.maximum(pe, 1e-4), np.maximum(pa, 1e-4)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def same_hours(history: pd.DataFrame, today: pd.DataFrame) -> pd.DataFrame:
    """History rows at the UTC hours of the day that `today` covers: the market has an
    intraday rhythm (sessions), so a feature is compared with the same hours."""
    if history.empty or today.empty:
        return history.iloc[:0]
    hour = lambda ts: (ts.to_numpy(dtype=np.int64) // 3_600_000) % 24  # noqa: E731
    return history[np.isin(hour(history["ts_ms"]), np.unique(hour(today["ts_ms"])))]


def feature_psi(history: pd.DataFrame, today: pd.DataFrame,
                cols: Sequence[str] = PSI_FEATURES) -> dict[str, float]:
    """PSI per feature, pooled over coins (both frames are MicroTapes or events)."""
    return {c: psi(history[c].to_numpy(), today[c].to_numpy())
            for c in cols if c in history and c in today}


def publication_rate(events: pd.DataFrame) -> float:
    return float(events["published"].astype(bool).mean()) if len(events) else 0.0


def hit_rate_shortfall(evals: pd.DataFrame, expected: float) -> tuple[float, int, float]:
    """(published hit rate, n, z) of done published rows; z < 0 means below expectation."""
    done = evals[(evals["status"] == "done") & evals["published"].astype(bool)]
    n = len(done)
    if n == 0:
        return float("nan"), 0, 0.0
    rate = float(done["hit"].astype(float).mean())
    sd = np.sqrt(max(expected * (1 - expected), 1e-9) / n)
    return rate, n, (rate - expected) / sd


def firing_rates(windows: pd.DataFrame, hours: float) -> dict[str, float]:
    """Windows per hour per detector."""
    if hours <= 0 or not len(windows):
        return {}
    return {str(d): n / hours for d, n in windows["detector_id"].value_counts().items()}


def tape_hours(frames: pd.DataFrame) -> float:
    """Hours of tape (per coin, averaged): the firing-rate denominator."""
    if not len(frames):
        return 0.0
    g = frames.groupby("coin")["ts_ms"]
    return float(((g.max() - g.min()) / 3.6e6).mean())


def firing_shifts(today: dict[str, float], history: dict[str, float],
                  today_n: dict[str, int], limits: HealthLimits = LIMITS) -> dict[str, float]:
    """Detectors whose rate moved by more than max_firing_ratio (ratio today/history)."""
    out = {}
    for d in sorted(set(today) | set(history)):
        t, h = today.get(d, 0.0), history.get(d, 0.0)
        if max(today_n.get(d, 0), 0) < limits.min_firing_windows and h * 1.0 == 0.0:
            continue
        ratio = (t + 1e-9) / (h + 1e-9)
        if ratio > limits.max_firing_ratio or ratio < 1.0 / limits.max_firing_ratio:
            out[d] = float(ratio)
    return out


def ci_violations(lessons: pd.DataFrame) -> tuple[int, int]:
    """(rows with ci_lo <= uplift <= ci_hi broken, active rows with p05 <= 0). A lesson
    whose cross-fit splits disagree (sign 0) carries uplift 0 by design and is not judged
    (`unsigned_lessons` counts them)."""
    if not len(lessons):
        return 0, 0
    lo, est, hi = (lessons[c].to_numpy(dtype=np.float64) for c in ("ci_lo", "uplift_bps",
                                                                    "ci_hi"))
    signed = (lessons["sign"].to_numpy() != 0) if "sign" in lessons else np.ones(len(est), bool)
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(est) & signed
    order_bad = int((ok & ~((lo <= est + 1e-9) & (est <= hi + 1e-9))).sum())
    active = lessons["state"].astype(str).to_numpy() == "active"
    p05 = lessons["p05"].to_numpy(dtype=np.float64)
    return order_bad, int((active & ~(p05 > 0)).sum())


def unsigned_lessons(lessons: pd.DataFrame) -> int:
    return int((lessons["sign"] == 0).sum()) if len(lessons) and "sign" in lessons else 0


def priors_violations(snapshot: pd.DataFrame, theta_bounds: tuple[float, float],
                      phi_bounds: tuple[float, float], max_theta_delta: float,
                      max_step: float) -> list[str]:
    """Caps outside their bounds, a patch beyond the per-braid limit, a step too large."""
    bad: list[str] = []
    for r in snapshot.itertuples():
        key, after, before = str(r.key), r.after_value, r.before_value
        if not np.isfinite(after):
            continue
        if key == "cap/theta_min" and not theta_bounds[0] <= after <= theta_bounds[1]:
            bad.append(f"{key}={after:g} outside {theta_bounds}")
        if key == "cap/phi_max" and not phi_bounds[0] <= after <= phi_bounds[1]:
            bad.append(f"{key}={after:g} outside {phi_bounds}")
        if key.startswith("patch/") and key.endswith("theta_delta"):
            if abs(after) > max_theta_delta + 1e-12:
                bad.append(f"{key}={after:+g} beyond +-{max_theta_delta:g}")
            step = abs(after - (before if np.isfinite(before) else 0.0))
            if step > max_step + 1e-12:
                bad.append(f"{key} stepped {step:g} > {max_step:g}")
    return bad
