"""Per-frame derived features and the meta-signals (budget cues, never direction).

`frame_features` adds, per coin and frame, the causal inputs the kernel needs (spread
relative to its EMA, volume-weighted aggressor flow, kr_hbar) and the meta-signals
ms_kairos and ms_asym_* ; `entrainment` adds ms_entrain_r from the detectors' windows.
docs/scoring.md ("Meta-signals") has the formulas.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.special import expit, ndtri

import lotus_core.signals.features as F
from lotus_core.filters import ewm
from lotus_core.signals.config import ScoringConfig

META_COLUMNS = ("ms_kairos", "ms_entrain_r", "ms_asym_score", "ms_asym_z_oi",
                "ms_asym_z_funding", "ms_asym_z_basis", "ms_asym_z_depth")


def _pctl_z(p: np.ndarray, clip: float) -> np.ndarray:
    """Normal score of a percentile (NaN -> 0: no information)."""
    z = ndtri(np.clip(np.asarray(p, dtype=np.float64), 0.01, 0.99))
    return np.clip(np.nan_to_num(z, nan=0.0), -clip, clip)


def spread_penalty(spread_rel: np.ndarray, excess: float) -> np.ndarray:
    """p_spread in [0, 1]: 0 at or below the usual spread, 1 at (1 + excess) x usual."""
    return np.clip((np.nan_to_num(spread_rel, nan=1.0) - 1.0) / excess, 0.0, 1.0)


def frame_features(frames: pd.DataFrame, cfg: ScoringConfig) -> pd.DataFrame:
    """spread_rel, flow, kr_hbar, ms_kairos and ms_asym_* for every frame (same index)."""
    coins = frames["coin"].to_numpy(dtype=object)
    ts = frames["ts_ms"].to_numpy(dtype=np.int64)
    cadence = F.cadence_ms(ts, coins)
    n = len(frames)
    out = {c: np.zeros(n) for c in ("spread_rel", "flow", "rv_ratio", "tc_ratio", "z_basis")}
    col = {c: frames[c].to_numpy(dtype=np.float64) for c in
           ("spread_bps", "buy_vol", "sell_vol", "rv_bps", "trade_count", "basis_bps")}
    m, kr = cfg.meta, cfg.kr
    for _, a, b in F.coin_blocks(coins):
        s = slice(a, b)
        ema_sp = ewm(col["spread_bps"][s], span=F.rows(kr.spread_ema_s, cadence))
        with np.errstate(invalid="ignore", divide="ignore"):
            out["spread_rel"][s] = np.where(ema_sp > 0, col["spread_bps"][s] / ema_sp, 1.0)
            span = F.rows(kr.flow_span_s, cadence)
            net = ewm(col["buy_vol"][s] - col["sell_vol"][s], span=span)
            tot = ewm(col["buy_vol"][s] + col["sell_vol"][s], span=span)
            out["flow"][s] = np.where(tot > 0, net / tot, 0.0)
            rv = col["rv_bps"][s]
            rv_ema = ewm(rv, span=F.rows(m.kairos_rv_span_s, cadence))
            out["rv_ratio"][s] = np.where((rv > 0) & (rv_ema > 0), rv / rv_ema, 1.0)
            tc = col["trade_count"][s]
            fast = ewm(tc, span=F.rows(m.kairos_fast_s, cadence))
            slow = ewm(tc, span=F.rows(m.kairos_slow_s, cadence))
            out["tc_ratio"][s] = (fast + 0.1) / (slow + 0.1)
            basis = col["basis_bps"][s]
            bspan = F.rows(m.asym_basis_span_s, cadence)
            dev = basis - ewm(basis, span=bspan)
            sd = np.sqrt(ewm(dev * dev, span=bspan))
            out["z_basis"][s] = np.where(sd > 0, np.abs(dev) / sd, 0.0)
    rv_pctl = frames["rv_pctl"].to_numpy(dtype=np.float64)
    range_pctl = frames["range_pctl"].to_numpy(dtype=np.float64)
    both = np.vstack([rv_pctl, range_pctl])
    known = (~np.isnan(both)).sum(axis=0)
    hbar = np.where(known > 0, np.nansum(both, axis=0) / np.maximum(known, 1), 0.5)

    liquid = 1.0 - spread_penalty(out["spread_rel"], kr.spread_excess)
    vol_exp = expit(2.0 * np.log(np.nan_to_num(out["rv_ratio"], nan=1.0)))
    burst = expit(np.log(out["tc_ratio"]))
    kairos = liquid * 0.5 * (vol_exp + burst)

    clip = m.asym_clip
    z_oi = _pctl_z(frames["oi_pctl"].to_numpy(), clip)
    z_f = np.abs(_pctl_z(frames["funding_pctl"].to_numpy(), clip))
    z_b = np.clip(np.nan_to_num(out["z_basis"], nan=0.0), 0.0, clip)
    depth = frames["depth_5_rel"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        z_d = -np.log(np.where(depth > 0, depth, np.nan)) / m.asym_depth_scale
    z_d = np.clip(np.nan_to_num(z_d, nan=0.0, posinf=clip, neginf=-clip), -clip, clip)
    w = m.asym_weights
    asym = expit(w.oi * z_oi + w.funding * z_f + w.basis * z_b + w.depth * z_d - m.asym_tau)
    return pd.DataFrame({
        "spread_rel": out["spread_rel"], "flow": out["flow"], "kr_hbar": np.clip(hbar, 0, 1),
        "ms_kairos": np.clip(kairos, 0.0, 1.0), "ms_asym_score": asym,
        "ms_asym_z_oi": z_oi, "ms_asym_z_funding": z_f, "ms_asym_z_basis": z_b,
        "ms_asym_z_depth": z_d,
    }, index=frames.index)


def entrainment(frames: pd.DataFrame, windows: pd.DataFrame,
                horizons: Mapping[str, int]) -> np.ndarray:
    """ms_entrain_r per frame: the Kuramoto order parameter of the cohort's phases.

    Detector d is live on a coin at t while its latest window there (ts <= t) is younger
    than its horizon h_d; its phase is pi*(1 - s)/2 + pi*age/h_d (the direction sets the
    start, the phase runs half a turn over the horizon). r = |sum over live e^(i phase)| / N,
    N = the cohort size, so r is high only when many detectors fire together, same way.
    """
    n = len(frames)
    re, im = np.zeros(n), np.zeros(n)
    cohort = len(horizons)
    if cohort == 0 or n == 0:
        return np.zeros(n)
    coins = frames["coin"].to_numpy(dtype=object)
    ts = frames["ts_ms"].to_numpy(dtype=np.int64)
    wcoin = windows["coin"].to_numpy(dtype=object)
    wdet = windows["detector_id"].to_numpy(dtype=object)
    wts = windows["ts_ms"].to_numpy(dtype=np.int64)
    wdir = windows["direction"].to_numpy(dtype=np.float64)
    for coin, a, b in F.coin_blocks(coins):
        t = ts[a:b]
        for det, h in horizons.items():
            sel = np.flatnonzero((wcoin == coin) & (wdet == det))
            if len(sel) == 0:
                continue
            j = np.searchsorted(wts[sel], t, side="right") - 1
            has = j >= 0
            jj = sel[np.maximum(j, 0)]
            age = (t - wts[jj]) / 1000.0
            live = has & (age < h)
            phase = np.pi * (1.0 - wdir[jj]) / 2.0 + np.pi * age / h
            re[a:b] += np.where(live, np.cos(phase), 0.0)
            im[a:b] += np.where(live, np.sin(phase), 0.0)
    return np.clip(np.hypot(re, im) / cohort, 0.0, 1.0)
