"""Window-level planted truth: learning frames with a known conditional effect and a decoy.

For tests and benchmarks of the learning loop without running the market simulator: each
row is a window in which a detector fired, with the context columns the quantiser reads
and a realised net return. The planted detector gains `delta_bps` when open interest is
high (oi_pctl >= 2/3); a decoy (high funding) agrees with high OI `decoy_agreement` of the
time and does nothing; a confounder (the `trend` regime) makes high OI likelier AND adds
its own return, so a naive comparison is biased while a doubly robust one is not.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from lotus_core.microtape.context import SESSIONS
from lotus_core.signals.ids import window_ids

PLANTED = "planted_v1"
OI_HIGH = 2 / 3


def _session(hour: np.ndarray) -> np.ndarray:
    # asia 0-8, eu 8-13, us 13-24 (weekends are not simulated here)
    labels = np.array(SESSIONS, dtype=object)
    return labels[np.select([hour < 8, hour < 13], [0, 1], 2)]


def make_learning_frame(
    days: int = 6,
    start: str = "2026-03-02",
    windows_per_day: int = 1500,
    seed: int = 1,
    delta_bps: float = 6.0,
    decoy_agreement: float = 0.8,
    noise_bps: float = 8.0,
    detectors: tuple[str, ...] = (PLANTED, "noise_a_v1", "noise_b_v1"),
    vanish_from_day: int | None = None,
    confounding: float = 0.25,
    regime_effect_bps: float = 2.0,
) -> pd.DataFrame:
    """One row per window: ids, context columns, `net_ret_bps`, `hit`, MFE/MAE, and `planted`
    (the true effect in bps, for checks only). Deterministic for a seed. The `trend` regime
    adds `regime_effect_bps` for every detector: a real effect, and a confounder of OI."""
    rng = np.random.default_rng(seed)
    d0 = date.fromisoformat(start)
    frames = []
    for d in range(days):
        day = d0 + timedelta(days=d)
        base_ms = int(pd.Timestamp(day, tz="UTC").value // 1_000_000)
        n = windows_per_day * len(detectors)
        ts = base_ms + np.sort(rng.integers(0, 86_400_000, n))
        det = rng.choice(np.array(detectors, dtype=object), n)
        regime = rng.choice(np.array(["quiet", "trend", "chop"], dtype=object), n)
        trend = regime == "trend"
        p_oi = np.clip(1 / 3 + confounding * np.where(trend, 1, -0.5), 0.02, 0.98)
        oi_high = rng.random(n) < p_oi
        oi = np.where(oi_high, rng.uniform(OI_HIGH, 1.0, n), rng.uniform(0.0, OI_HIGH, n))
        fund_high = np.where(rng.random(n) < decoy_agreement, oi_high, rng.random(n) < 1 / 3)
        fund = np.where(fund_high, rng.uniform(OI_HIGH, 1.0, n), rng.uniform(0, OI_HIGH, n))
        active = vanish_from_day is None or d < vanish_from_day
        planted = np.where((det == PLANTED) & oi_high & active, delta_bps, 0.0)
        y = (-1.5 + regime_effect_bps * trend + planted + rng.normal(0.0, noise_bps, n))
        hour = (ts - base_ms) // 3_600_000
        frame = pd.DataFrame({
            "ts_ms": ts.astype(np.int64),
            "coin": rng.choice(np.array(["BTC", "ETH", "SOL"], dtype=object), n),
            "detector_id": det,
            "direction": rng.choice(np.array([-1, 1], dtype=np.int8), n),
            "session": _session(hour),
            "regime": regime,
            "rv_pctl": rng.random(n),
            "oi_pctl": oi,
            "funding_pctl": fund,
            "kr_hbar": rng.random(n),
            "mx_evidence": rng.random(n),
            "depth_5_rel": rng.lognormal(0.0, 0.5, n),
            "spread_rel": rng.lognormal(0.0, 0.3, n),
            "net_ret_bps": y,
            "hit": (y > 0).astype(np.float64),
            "mfe_bps": np.maximum(y, 0.0) + rng.exponential(2.0, n),
            "mae_bps": np.minimum(y, 0.0) - rng.exponential(2.0, n),
            "planted": planted,
            "date": day.isoformat(),
        })
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["ts_ms", "coin", "detector_id"], kind="stable").reset_index(drop=True)
    out = out.drop_duplicates(["ts_ms", "coin", "detector_id"]).reset_index(drop=True)
    out.insert(0, "window_id", window_ids(out["coin"], out["detector_id"], out["ts_ms"]))
    return out


def null_frame(seed: int, **kw) -> pd.DataFrame:
    """No effect anywhere: no planted lift, no regime effect (the decoy still tracks OI)."""
    return make_learning_frame(seed=seed, delta_bps=0.0, regime_effect_bps=0.0, **kw)
