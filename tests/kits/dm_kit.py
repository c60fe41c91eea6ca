"""Small seeded inputs for the DM's tests and benchmark: MicroTape-like rows, a planted
training frame for the calibration, and alpha streams. Not used in production paths."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lotus_core.dm.alpha import AlphaEvent

DAY0_MS = 1_767_312_000_000  # 2026-01-02T00:00:00Z


def tape_rows(coins: Sequence[str] = ("BTC", "ETH", "SOL"), seconds: int = 1800,
              start_ms: int = DAY0_MS, cadence_ms: int = 1000, seed: int = 7,
              vol_bps: float = 1.5) -> pd.DataFrame:
    """Correlated random-walk mids with a spread, depth and stale_ms, sorted by (ts, coin)
    (the order the DM consumes; the lake sorts by (coin, ts))."""
    rng = np.random.default_rng(seed)
    n, k = seconds * 1000 // cadence_ms, len(coins)
    corr = np.full((k, k), 0.6) + 0.4 * np.eye(k)
    shocks = rng.standard_normal((n, k)) @ np.linalg.cholesky(corr).T * vol_bps / 1e4
    base = np.array([50_000.0, 3_000.0, 150.0, 1.0, 20.0][:k] + [10.0] * max(0, k - 5))
    mids = base * np.exp(np.cumsum(shocks, axis=0))
    ts = start_ms + np.arange(n, dtype=np.int64) * cadence_ms
    frame = pd.DataFrame({
        "coin": np.tile(np.asarray(coins, dtype=object), n),
        "ts_ms": np.repeat(ts, k),
        "mid_px": mids.ravel(),
        "spread_bps": np.full(n * k, 1.0),
        "depth_5_bid": np.tile(2e6 / base, n), "depth_5_ask": np.tile(2e6 / base, n),
        "depth_slope": np.tile(5e5 / base, n),
        "stale_ms": np.zeros(n * k, dtype=np.int64),
    })
    return frame


def _ulid(ts_ms: int, i: int) -> str:
    """A valid ULID (Crockford base32) for the alpha's strand id: its time, then i."""
    from lotus_core.fabric.ulid import encode

    return encode(ts_ms << 80 | (i + 1))


def alpha_stream(coins: Sequence[str], detectors: Sequence[str], n: int,
                 start_ms: int = DAY0_MS + 120_000, span_ms: int = 1_500_000,
                 seed: int = 11) -> list[AlphaEvent]:
    """n alphas at distinct random times after the warm-up, random coin/detector/side."""
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.choice(np.arange(span_ms // 1000), size=n, replace=False)) * 1000
    out = []
    for i, t in enumerate(ts):
        out.append(AlphaEvent(
            alpha_id=_ulid(int(start_ms + t), i), ts_ms=int(start_ms + t),
            coin=str(rng.choice(list(coins))), detector_id=str(rng.choice(list(detectors))),
            horizon_s=60, direction=int(rng.choice([-1, 1])),
            curated_sigma=float(rng.uniform(0.5, 1.0)),
            meta=(("ms_kairos", float(rng.uniform())), ("ms_entrain_r", float(rng.uniform())),
                  ("ms_asym_score", float(rng.uniform()))),
        ))
    return out


def planted_training(detector: str, n: int, effect_bps: float, seed: int,
                     horizons_s: Sequence[int] = (60, 300), noise_bps: float = 15.0,
                     days: int = 4, coins: Sequence[str] = ("BTC", "ETH", "SOL"),
                     start_ms: int = DAY0_MS - 5 * 86_400_000) -> pd.DataFrame:
    """A calibration training frame (see calibration.training_frame) with y = effect·x +
    noise at every horizon (the effect grows with √horizon)."""
    rng = np.random.default_rng(seed)
    parts = []
    for h in horizons_s:
        x = rng.uniform(0.3, 1.0, n)
        scale = float(np.sqrt(h / 60.0))
        y = effect_bps * scale * x + rng.normal(0.0, noise_bps * scale, n)
        ts = start_ms + np.sort(rng.integers(0, days * 86_400_000, n))
        parts.append(pd.DataFrame({
            "window_id": [f"{detector}-{h}-{i}" for i in range(n)], "ts_ms": ts,
            "day": pd.to_datetime(ts, unit="ms", utc=True).strftime("%Y-%m-%d"),
            "coin": rng.choice(list(coins), n), "detector_id": detector,
            "horizon_s": np.full(n, h, dtype=np.int64), "x": x, "y": y,
            "hit": (y - 3.0 > 0).astype(float), "cost": np.full(n, 3.0),
        }))
    return pd.concat(parts, ignore_index=True)


def signal_events_of(alphas: Sequence[AlphaEvent]) -> pd.DataFrame:
    """The published-window columns of `signal_events` that the DM (from_signal_events) and
    the Signal Bus (lotus_core.signals.bus.bus_rows) read, for the given alphas."""
    from lotus_core.dm.alpha import META_KEYS

    rows = []
    for a in alphas:
        meta = dict(a.meta)
        rows.append({
            "window_id": a.alpha_id, "ts_ms": a.ts_ms, "coin": a.coin,
            "detector_id": a.detector_id, "recipe_hash": "sha256:" + "ab" * 32,
            "horizon_s": a.horizon_s, "direction": a.direction,
            "signal": 0.8 * a.direction, "det_sigma": a.curated_sigma,
            "curated_sigma": a.curated_sigma, "vetoes": "[]", "published": True,
            "paper": False, "propensity": 1.0, "kr_hbar": 0.5, "kr_theta": 0.2,
            "kr_delta_phi": 0.6, "mx_evidence": 0.5, "mx_confirm": 0,
            **{k: meta.get(k, 0.5) for k in META_KEYS},
        })
    f = pd.DataFrame(rows)
    return f.sort_values(["ts_ms", "coin", "detector_id"], kind="stable").reset_index(drop=True)
