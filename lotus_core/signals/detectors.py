"""The detector engine: one vectorised function per detector kind, then one event rule.

Each kind turns one coin's MicroTape slice into per-row *candidates* (direction, raw
strength). `run_detectors` then keeps one window per event: a candidate opens a new window
unless the previous candidate of the same detector, coin and direction is less than
`cooldown_s` before it. Every step looks backwards only, so a window at t is the same
whether or not frames after t exist (tests cut the tape at t and compare).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

import lotus_core.signals.features as F
from lotus_core.filters import ewm, wilder_rsi
from lotus_core.signals.spec import (
    BreakoutRetestParams,
    DetectorSpec,
    DivergenceParams,
    FlowPressureParams,
    MeanReversionParams,
    SweepParams,
)

WINDOW_COLUMNS = ("frame_idx", "ts_ms", "coin", "detector_id", "direction", "raw_strength",
                  "horizon_s")


@dataclass(frozen=True)
class Candidates:
    """Per-row candidate flags of one detector on one coin's slice."""

    fire: np.ndarray  # bool
    direction: np.ndarray  # int8, +1 / -1 where fire
    strength: np.ndarray  # float64 >= 0 where fire


Slice = dict[str, np.ndarray]
KindFn = Callable[[Slice, DetectorSpec, int], Candidates]


def _both_sides(up: tuple[np.ndarray, np.ndarray], dn: tuple[np.ndarray, np.ndarray]) -> Candidates:
    """Merge an up-side and a down-side (fire, strength) pair; the stronger side wins a tie."""
    fu, su = up
    fd, sd = dn
    su = np.where(fu, su, -np.inf)
    sd = np.where(fd, sd, -np.inf)
    fire = fu | fd
    direction = np.where(su >= sd, 1, -1).astype(np.int8)
    strength = np.where(fire, np.maximum(su, sd), 0.0)
    return Candidates(fire, np.where(fire, direction, 0).astype(np.int8), strength)


def breakout_retest(g: Slice, spec: DetectorSpec, cadence: int) -> Candidates:
    """Break of the lookback high/low, extension, then a retest that holds the level."""
    p: BreakoutRetestParams = spec.typed_params
    x = F.log_bps(g["mid_px"])
    look, win = F.rows(p.lookback_s, cadence), F.rows(p.retest_window_s, cadence)

    def side(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hi = F.prev_max(y, look)
        brk = np.nan_to_num(y - hi, nan=-np.inf) >= p.break_bps
        event = brk & ~F.recent_any(brk, win)  # the first break after a calm spell
        seg = F.segment_ids(event)
        level = F.seg_ffill(hi, event)
        start = F.seg_start_index(event)
        age = np.arange(len(y)) - start
        top = F.seg_cummax(y, seg)
        low = F.seg_cummin(y, seg)
        ext = top - level
        cond = ((seg > 0) & (age > 0) & (age <= win) & (ext >= p.break_bps + p.extend_bps)
                & (y <= level + p.retest_tol_bps) & (low >= level - p.fail_bps))
        fire = F.first_in_segment(cond, seg)
        strength = np.where(fire, ext / max(p.extend_bps, 1e-9), 0.0)
        return fire, strength

    return _both_sides(side(x), side(-x))


def divergence(g: Slice, spec: DetectorSpec, cadence: int) -> Candidates:
    """New price extreme that RSI and the MACD histogram do not confirm."""
    p: DivergenceParams = spec.typed_params
    x = F.log_bps(g["mid_px"])
    look = F.rows(p.lookback_s, cadence)
    rsi = wilder_rsi(x, F.rows(p.rsi_span_s, cadence), nan_rows="skip")  # of the log-bps mid
    macd = ewm(x, span=F.rows(p.macd_fast_s, cadence)) - ewm(x, span=F.rows(p.macd_slow_s,
                                                                                cadence))
    hist = macd - ewm(macd, span=F.rows(p.macd_signal_s, cadence))
    dhist = np.r_[0.0, np.diff(hist)]

    new_low = np.nan_to_num(x - F.prev_min(x, look), nan=0.0) < 0
    gap_up = rsi - F.prev_min(rsi, look)
    bull = new_low & (np.nan_to_num(gap_up) >= p.rsi_gap) & (dhist > 0)

    new_high = np.nan_to_num(x - F.prev_max(x, look), nan=0.0) > 0
    gap_dn = F.prev_max(rsi, look) - rsi
    bear = new_high & (np.nan_to_num(gap_dn) >= p.rsi_gap) & (dhist < 0)
    return _both_sides((bull, np.nan_to_num(gap_up) / p.rsi_gap),
                       (bear, np.nan_to_num(gap_dn) / p.rsi_gap))


def mean_reversion(g: Slice, spec: DetectorSpec, cadence: int) -> Candidates:
    """|z| of the mid's deviation from its EMA peaks above z_entry and starts to revert."""
    p: MeanReversionParams = spec.typed_params
    x = F.log_bps(g["mid_px"])
    dev = x - ewm(x, span=F.rows(p.ema_span_s, cadence))
    zspan = F.rows(p.z_span_s, cadence)
    sd = np.sqrt(ewm(dev * dev, span=zspan))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(sd > 0, dev / sd, 0.0)
    z[: min(zspan, len(z))] = 0.0  # warm-up: the dispersion is not known yet
    zp = np.r_[0.0, z[:-1]]
    turn = (np.abs(zp) >= p.z_entry) & (np.abs(z) < np.abs(zp)) & (np.sign(z) == np.sign(zp))
    strength = np.abs(zp) / p.z_entry
    return _both_sides((turn & (zp < 0), strength), (turn & (zp > 0), strength))


def sweep(g: Slice, spec: DetectorSpec, cadence: int) -> Candidates:
    """A sweep confirmed by aggressor imbalance; optionally wait for the stall after it."""
    p: SweepParams = spec.typed_params
    sdir = g["sweep_dir"].astype(np.int8)
    imb = g["aggr_imb"]
    ok = (g["sweep_flag"] == 1) & (sdir != 0) & (imb * sdir >= p.min_aggr_imb)
    vol = g["buy_vol"] + g["sell_vol"]
    base = np.r_[np.nan, ewm(vol, span=F.rows(p.vol_span_s, cadence))[:-1]]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(base > 0, vol / base, 1.0)
    strength = np.abs(imb) * np.log1p(np.nan_to_num(ratio, nan=1.0))
    if p.stall_s == 0:
        fire = ok
        direction = np.where(ok, sdir, 0).astype(np.int8)
        return Candidates(fire, direction, np.where(ok, strength, 0.0))
    x = F.log_bps(g["mid_px"])
    k = F.rows(p.stall_s, cadence)
    frozen = np.nan_to_num(F.window_range(x, k + 1), nan=np.inf) < 1e-6
    quiet = F.window_sum(g["trade_count"], k) <= 1
    seg = F.segment_ids(ok)
    age = np.arange(len(x)) - F.seg_start_index(ok)
    cond = (seg > 0) & (age >= k) & (age <= F.rows(p.max_wait_s, cadence)) & frozen & quiet
    fire = F.first_in_segment(cond, seg)
    direction = np.where(fire, np.nan_to_num(F.seg_ffill(sdir, ok)), 0).astype(np.int8)
    return Candidates(fire, direction, np.where(fire, F.seg_ffill(strength, ok), 0.0))


def flow_pressure(g: Slice, spec: DetectorSpec, cadence: int) -> Candidates:
    """Sustained one-sided aggressor volume that the resting book leans with."""
    p: FlowPressureParams = spec.typed_params
    span = F.rows(p.flow_span_s, cadence)
    net = ewm(g["buy_vol"] - g["sell_vol"], span=span)
    tot = ewm(g["buy_vol"] + g["sell_vol"], span=span)
    with np.errstate(invalid="ignore", divide="ignore"):
        flow = np.where(tot > 0, net / tot, 0.0)
    book = np.nan_to_num(g["book_imb_5"].astype(np.float64))
    busy = F.window_sum(g["trade_count"], span) >= p.min_trades
    up = busy & (flow >= p.min_flow) & (book >= p.min_book)
    dn = busy & (flow <= -p.min_flow) & (book <= -p.min_book)
    strength = np.abs(flow) / p.min_flow
    return _both_sides((up, strength), (dn, strength))


KINDS: dict[str, KindFn] = {
    "breakout_retest": breakout_retest,
    "divergence": divergence,
    "mean_reversion": mean_reversion,
    "sweep": sweep,
    "flow_pressure": flow_pressure,
}

SLICE_COLUMNS = ("mid_px", "sweep_flag", "sweep_dir", "aggr_imb", "buy_vol", "sell_vol",
                 "trade_count", "book_imb_5")


def episode_starts(ts_ms: np.ndarray, direction: np.ndarray, cooldown_ms: int) -> np.ndarray:
    """Of candidate rows (time-ordered, one detector and coin), those opening a new event:
    no candidate of the same direction in the `cooldown_ms` before it."""
    keep = np.zeros(len(ts_ms), dtype=bool)
    for d in (-1, 1):
        idx = np.flatnonzero(direction == d)
        if len(idx):
            gap = np.diff(ts_ms[idx], prepend=np.iinfo(np.int64).min // 2)
            keep[idx] = gap >= cooldown_ms
    return keep


def run_detectors(frames: pd.DataFrame, specs: Sequence[DetectorSpec]) -> pd.DataFrame:
    """Every window the `specs` fire on `frames` (a MicroTape), sorted by (ts_ms, coin,
    detector_id). `frame_idx` is the row position in `frames` of the window's frame."""
    coins = frames["coin"].to_numpy(dtype=object)
    ts = frames["ts_ms"].to_numpy(dtype=np.int64)
    cadence = F.cadence_ms(ts, coins)
    cols = {c: frames[c].to_numpy() for c in SLICE_COLUMNS}
    parts: list[pd.DataFrame] = []
    for coin, a, b in F.coin_blocks(coins):
        g = {c: v[a:b] for c, v in cols.items()}
        g["mid_px"] = g["mid_px"].astype(np.float64)
        for spec in specs:
            cand = KINDS[spec.kind](g, spec, cadence)
            idx = np.flatnonzero(cand.fire & (cand.direction != 0))
            if len(idx) == 0:
                continue
            keep = episode_starts(ts[a:b][idx], cand.direction[idx], spec.cooldown_s * 1000)
            idx = idx[keep]
            parts.append(pd.DataFrame({
                "frame_idx": (idx + a).astype(np.int64),
                "ts_ms": ts[a:b][idx],
                "coin": coin,
                "detector_id": spec.id,
                "direction": cand.direction[idx].astype(np.int8),
                "raw_strength": cand.strength[idx].astype(np.float64),
                "horizon_s": np.int64(spec.horizon_s),
            }))
    if not parts:
        return empty_windows()
    out = pd.concat(parts, ignore_index=True)
    out["coin"] = out["coin"].astype("str")
    out["detector_id"] = out["detector_id"].astype("str")
    return out.sort_values(["ts_ms", "coin", "detector_id"], kind="stable").reset_index(drop=True)


def empty_windows() -> pd.DataFrame:
    return pd.DataFrame({
        "frame_idx": pd.Series([], dtype="int64"), "ts_ms": pd.Series([], dtype="int64"),
        "coin": pd.Series([], dtype="str"), "detector_id": pd.Series([], dtype="str"),
        "direction": pd.Series([], dtype="int8"), "raw_strength": pd.Series([], dtype="float64"),
        "horizon_s": pd.Series([], dtype="int64"),
    })
