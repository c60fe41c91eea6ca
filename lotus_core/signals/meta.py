"""Per-frame derived features and the meta-signals (budget cues, never direction).

`frame_features` adds, per coin and frame, the causal inputs the kernel needs (spread
relative to its EMA, volume-weighted aggressor flow, kr_hbar) and the meta-signals
ms_kairos and ms_asym_* ; `entrainment` adds ms_entrain_r from the detectors' windows.
docs/scoring.md ("Meta-signals") has the formulas.

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. `CoinState` carries one coin's EMAs and latest windows for the live
step (`pipeline.WindowScorer`); each `*_one` function is its batch namesake on one row and
sits right after it, both reading the named rules below. The equality test is
tests/core/signals/test_signals_scoring.py (`test_*_streams_to_the_batch_scores`).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pandas as pd
from scipy.special import expit, ndtri

import lotus_core.signals.features as F
from lotus_core.arrays import positions_by
from lotus_core.filters import ewm
from lotus_core.signals.config import KrConfig, MetaConfig, ScoringConfig

META_COLUMNS = ("ms_kairos", "ms_entrain_r", "ms_asym_score", "ms_asym_z_oi",
                "ms_asym_z_funding", "ms_asym_z_basis", "ms_asym_z_depth")

# the rules both paths read
PCTL_LO, PCTL_HI = 0.01, 0.99  # a percentile is clipped into this before its normal score
USUAL = 1.0  # spread_rel, rv_ratio and tc_ratio where unknown (no EMA yet, NaN): the usual
# level. tc_ratio is unknown while the coin's trade_count has been NaN on every row so far
# (no trades channel: docs/microtape.md): no evidence of a burst, the burst term reads 1/2.
TC_PSEUDO = 0.1  # pseudo count of the trade-count EMAs in ms_kairos' burst ratio
VOL_GAIN = 2.0  # ms_kairos' vol term: expit(VOL_GAIN * log(rv_ratio))
HBAR_UNKNOWN = 0.5  # kr_hbar when neither rv_pctl nor range_pctl is known


# One-value forms of numpy's array calls, for the step (here: the lowest scoring module;
# kernel, quality, context and pipeline import them). Each equals its numpy call on one
# value (tests/core/signals/test_signals_scoring.py, on NaN, infinities and zeros).
_NAN = math.nan
_PI = math.pi  # == np.pi
_BIG = 1.7976931348623157e308  # np.nan_to_num's replacement of +inf


def clip_one(x: float, lo: float, hi: float) -> float:
    """np.clip of one value (NaN stays NaN)."""
    return lo if x < lo else hi if x > hi else x


def nan_to_num_one(x: float, nan: float = 0.0) -> float:
    """np.nan_to_num of one value."""
    if x != x:
        return nan
    if x == math.inf:
        return _BIG
    if x == -math.inf:
        return -_BIG
    return x


def expit_one(x: float) -> float:
    """scipy.special.expit: 1 / (1 + exp(-x)), bit for bit (0 where exp overflows)."""
    try:
        return 1.0 / (1.0 + math.exp(-x))
    except OverflowError:
        return 0.0


# numpy's own transcendentals on one value: the batch's vectorised loops, which numpy may
# run as SIMD code (AVX-512 here) that differs from libm's `math` in the last bit. The
# same operation on both paths keeps live and nightly values, and so the decisions taken
# at thresholds, equal on every CPU (a 0-d call runs the same loop, ~0.2 us).
_NP_LOG, _NP_POW, _NP_EXP, _NP_TANH = np.log, np.power, np.exp, np.tanh


def log_one(x: float) -> float:
    """np.log of one value, without its warnings (0 -> -inf, < 0 -> NaN)."""
    if x > 0.0:
        return float(_NP_LOG(x))
    return -math.inf if x == 0.0 else _NAN


def exp_one(x: float) -> float:
    """np.exp of one value."""
    return float(_NP_EXP(x))


def tanh_one(x: float) -> float:
    """np.tanh of one value."""
    return float(_NP_TANH(x))


def pow_one(x: float, e: float) -> float:
    """numpy's `array ** scalar` for e >= 0: np.power, except its fast paths (0.5 is sqrt,
    2 a square); NaN where pow has no real value."""
    if e == 0.5:
        return math.sqrt(x) if x >= 0.0 or x != x else _NAN
    if e == 2.0:
        return x * x
    if x >= 0.0 or x != x:
        return float(_NP_POW(x, e))
    try:
        return math.pow(x, e)
    except ValueError:
        return _NAN


class EmaSpans(NamedTuple):
    """frame_features' EMA spans in grid rows (batch `ewm` and the step's `EmaWeights`)."""

    spread: int
    flow: int
    rv: int
    fast: int
    slow: int
    basis: int


def ema_spans(cfg: ScoringConfig, cadence: int) -> EmaSpans:
    """The spans at grid step `cadence` (ms), from the configured seconds."""
    kr, m = cfg.kr, cfg.meta
    return EmaSpans(*(F.rows(s, cadence) for s in (
        kr.spread_ema_s, kr.flow_span_s, m.kairos_rv_span_s, m.kairos_fast_s, m.kairos_slow_s,
        m.asym_basis_span_s)))


def ew_weights(span: int) -> tuple[float, float, float]:
    """`filters.ewm`'s weights (pandas' ewm(span, adjust=False)): (1 - alpha, alpha, their
    sum), alpha = 1 / (1 + (span - 1) / 2) as pandas computes it."""
    a = 1.0 / (1.0 + (span - 1) / 2)
    f = 1.0 - a
    return f, a, f + a


# One step of `filters.ewm` (pandas' recursion: a NaN x is skipped, the first x starts the
# mean, a constant run keeps it exactly) as source: `ew_one` and `CoinState.push` (inline:
# it runs 8 times on every live row) are both compiled from it, so it is written once.
_EW_STEP = """\
if {x} == {x}:
    if {m} != {m}:
        {m} = {x}
    elif {m} != {x}:
        {m} = ({w}[0] * {m} + {w}[1] * {x}) / {w}[2]
"""


def _compiled(name: str, head: str, body: list[str]) -> Callable[..., Any]:
    scope: dict[str, Any] = {}
    source = head + "\n" + "".join(textwrap.indent(b, "    ") for b in body)
    exec(compile(source, f"<meta.{name}>", "exec"), scope)
    return scope[name]  # type: ignore[no-any-return]


ew_one: Callable[[float, float, tuple[float, float, float]], float] = _compiled(
    "ew_one", "def ew_one(m, x, w):", [_EW_STEP.format(m="m", x="x", w="w"), "return m\n"])
ew_one.__doc__ = "One step of `filters.ewm` on one value: the new mean (w: `ew_weights`)."


class EmaWeights(NamedTuple):
    """`ew_weights` of each of frame_features' EMAs (one per scorer, shared by its coins)."""

    spread: tuple[float, float, float]
    flow: tuple[float, float, float]
    rv: tuple[float, float, float]
    fast: tuple[float, float, float]
    slow: tuple[float, float, float]
    basis: tuple[float, float, float]

    @classmethod
    def of(cls, spans: EmaSpans) -> EmaWeights:
        return cls(*(ew_weights(s) for s in spans))


def _pctl_z(p: np.ndarray, clip: float) -> np.ndarray:
    """Normal score of a percentile (NaN -> 0: no information)."""
    z = ndtri(np.clip(np.asarray(p, dtype=np.float64), PCTL_LO, PCTL_HI))
    return np.clip(np.nan_to_num(z, nan=0.0), -clip, clip)


def pctl_z_one(p: float, clip: float) -> float:
    """_pctl_z of one percentile."""
    if p != p:
        return 0.0
    return clip_one(float(ndtri(clip_one(p, PCTL_LO, PCTL_HI))), -clip, clip)


def spread_penalty(spread_rel: np.ndarray, excess: float) -> np.ndarray:
    """p_spread in [0, 1]: 0 at or below the usual spread, 1 at (1 + excess) x usual."""
    return np.clip((np.nan_to_num(spread_rel, nan=USUAL) - USUAL) / excess, 0.0, 1.0)


def spread_penalty_one(spread1: float, excess: float) -> float:
    """spread_penalty of one spread_rel, given as nan_to_num_one(spread_rel, USUAL)."""
    return clip_one((spread1 - USUAL) / excess, 0.0, 1.0)


def tc_ratio(fast: np.ndarray | float, slow: np.ndarray | float) -> np.ndarray | float:
    """ms_kairos' burst ratio of the trade-count EMAs (arrays or one value, same operations)."""
    return (fast + TC_PSEUDO) / (slow + TC_PSEUDO)


def kairos_raw(p_spread: np.ndarray | float, vol_exp: np.ndarray | float,
               burst: np.ndarray | float) -> np.ndarray | float:
    """ms_kairos before its clip: liquidity times the mean of the vol and burst terms
    (arrays or one value, same operations)."""
    return (1.0 - p_spread) * 0.5 * (vol_exp + burst)


def asym_logit(z_oi: np.ndarray | float, z_f: np.ndarray | float, z_b: np.ndarray | float,
               z_d: np.ndarray | float, m: MetaConfig) -> np.ndarray | float:
    """ms_asym_score before expit (arrays or one value, same operations)."""
    w = m.asym_weights
    return w.oi * z_oi + w.funding * z_f + w.basis * z_b + w.depth * z_d - m.asym_tau


def frame_features(frames: pd.DataFrame, cfg: ScoringConfig) -> pd.DataFrame:
    """spread_rel, flow, kr_hbar, ms_kairos and ms_asym_* for every frame (same index)."""
    coins = frames["coin"].to_numpy(dtype=object)
    ts = frames["ts_ms"].to_numpy(dtype=np.int64)
    spans = ema_spans(cfg, F.cadence_ms(ts, coins))
    n = len(frames)
    out = {c: np.zeros(n) for c in ("spread_rel", "flow", "rv_ratio", "tc_ratio", "z_basis")}
    col = {c: frames[c].to_numpy(dtype=np.float64) for c in
           ("spread_bps", "buy_vol", "sell_vol", "rv_bps", "trade_count", "basis_bps")}
    m, kr = cfg.meta, cfg.kr
    for _, a, b in F.coin_blocks(coins):
        s = slice(a, b)
        ema_sp = ewm(col["spread_bps"][s], span=spans.spread)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["spread_rel"][s] = np.where(ema_sp > 0, col["spread_bps"][s] / ema_sp, USUAL)
            net = ewm(col["buy_vol"][s] - col["sell_vol"][s], span=spans.flow)
            tot = ewm(col["buy_vol"][s] + col["sell_vol"][s], span=spans.flow)
            out["flow"][s] = np.where(tot > 0, net / tot, 0.0)
            rv = col["rv_bps"][s]
            rv_ema = ewm(rv, span=spans.rv)
            out["rv_ratio"][s] = np.where((rv > 0) & (rv_ema > 0), rv / rv_ema, USUAL)
            tc = col["trade_count"][s]
            out["tc_ratio"][s] = tc_ratio(ewm(tc, span=spans.fast), ewm(tc, span=spans.slow))
            basis = col["basis_bps"][s]
            dev = basis - ewm(basis, span=spans.basis)
            sd = np.sqrt(ewm(dev * dev, span=spans.basis))
            out["z_basis"][s] = np.where(sd > 0, np.abs(dev) / sd, 0.0)
    rv_pctl = frames["rv_pctl"].to_numpy(dtype=np.float64)
    range_pctl = frames["range_pctl"].to_numpy(dtype=np.float64)
    both = np.vstack([rv_pctl, range_pctl])
    known = (~np.isnan(both)).sum(axis=0)
    hbar = np.where(known > 0, np.nansum(both, axis=0) / np.maximum(known, 1), HBAR_UNKNOWN)

    vol_exp = expit(VOL_GAIN * np.log(np.nan_to_num(out["rv_ratio"], nan=USUAL)))
    burst = expit(np.log(np.nan_to_num(out["tc_ratio"], nan=USUAL)))
    kairos = kairos_raw(spread_penalty(out["spread_rel"], kr.spread_excess), vol_exp, burst)

    clip = m.asym_clip
    z_oi = _pctl_z(frames["oi_pctl"].to_numpy(), clip)
    z_f = np.abs(_pctl_z(frames["funding_pctl"].to_numpy(), clip))
    z_b = np.clip(np.nan_to_num(out["z_basis"], nan=0.0), 0.0, clip)
    depth = frames["depth_5_rel"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        z_d = -np.log(np.where(depth > 0, depth, np.nan)) / m.asym_depth_scale
    z_d = np.clip(np.nan_to_num(z_d, nan=0.0, posinf=clip, neginf=-clip), -clip, clip)
    asym = expit(asym_logit(z_oi, z_f, z_b, z_d, m))
    return pd.DataFrame({
        "spread_rel": out["spread_rel"], "flow": out["flow"], "kr_hbar": np.clip(hbar, 0, 1),
        "ms_kairos": np.clip(kairos, 0.0, 1.0), "ms_asym_score": asym,
        "ms_asym_z_oi": z_oi, "ms_asym_z_funding": z_f, "ms_asym_z_basis": z_b,
        "ms_asym_z_depth": z_d,
    }, index=frames.index)


class CoinState:
    """One coin's carried state for the step: frame_features' EMAs (`_EW_STEP`, so bit for
    bit the batch's) and each detector's latest window (ts_ms, direction) on the coin,
    which `entrainment_one` and quality's live detectors read.

    `push(w, sp, buy, sell, rv, tc, basis)` advances every EMA by one row (a row's
    spread_bps, buy_vol, sell_vol, rv_bps, trade_count, basis_bps; `w`: EmaWeights)."""

    __slots__ = ("basis", "dev", "dev2", "fast", "last", "net", "rv", "slow", "sp", "tot")
    push: ClassVar[Callable[[CoinState, EmaWeights, float, float, float, float, float, float],
                            None]]

    def __init__(self) -> None:
        self.sp = self.net = self.tot = self.rv = self.fast = self.slow = _NAN
        self.basis = self.dev = self.dev2 = _NAN
        self.last: dict[str, tuple[int, float]] = {}


# CoinState.push: (attribute, input, EmaWeights field) of each of frame_features' EMAs, in
# its order (dev = basis - its EMA, then dev2 = the EMA of dev * dev)
_EMAS = (("sp", "sp", "spread"), ("net", "buy - sell", "flow"), ("tot", "buy + sell", "flow"),
         ("rv", "rv", "rv"), ("fast", "tc", "fast"), ("slow", "tc", "slow"),
         ("basis", "basis", "basis"), ("dev2", "dev * dev", "basis"))
CoinState.push = _compiled("push", "def push(self, w, sp, buy, sell, rv, tc, basis):", [
    "w_" + ", w_".join(EmaWeights._fields) + " = w\n",
    *(("dev = self.dev = basis - self.basis\n" if attr == "dev2" else "")
      + f"x = {x}\nm = self.{attr}\n" + _EW_STEP.format(m="m", x="x", w="w_" + field)
      + f"self.{attr} = m\n" for attr, x, field in _EMAS)])


class RowFeatures(NamedTuple):
    """frame_features of one row (and two of its intermediate terms the kernel reads)."""

    spread_rel: float
    spread1: float  # spread_rel with NaN as USUAL (spread_penalty's and spread_bin's input)
    p_spread: float
    flow: float
    hbar: float
    kairos: float
    asym: float
    z_oi: float
    z_f: float
    z_b: float
    z_d: float


def frame_features_one(st: CoinState, sp: float, rv: float, rv_pctl: float,
                       range_pctl: float, oi_pctl: float, funding_pctl: float, depth: float,
                       kr: KrConfig, m: MetaConfig) -> RowFeatures:
    """frame_features at the row `st` was last pushed with (sp, rv: its spread_bps, rv_bps)."""
    spread_rel = sp / st.sp if st.sp > 0 else USUAL
    flow = st.net / st.tot if st.tot > 0 else 0.0
    rv_ratio = rv / st.rv if (rv > 0 and st.rv > 0) else USUAL
    sd = math.sqrt(st.dev2) if st.dev2 >= 0 else _NAN
    z_basis = abs(st.dev) / sd if sd > 0 else 0.0
    known = (rv_pctl == rv_pctl) + (range_pctl == range_pctl)
    if known:
        hbar = ((rv_pctl if rv_pctl == rv_pctl else 0.0)
                + (range_pctl if range_pctl == range_pctl else 0.0)) / known
    else:
        hbar = HBAR_UNKNOWN
    spread1 = nan_to_num_one(spread_rel, USUAL)
    p_spread = spread_penalty_one(spread1, kr.spread_excess)
    vol_exp = expit_one(VOL_GAIN * log_one(nan_to_num_one(rv_ratio, USUAL)))
    burst = expit_one(log_one(nan_to_num_one(tc_ratio(st.fast, st.slow), USUAL)))
    kairos = clip_one(kairos_raw(p_spread, vol_exp, burst), 0.0, 1.0)
    clip = m.asym_clip
    z_oi = pctl_z_one(oi_pctl, clip)
    z_f = abs(pctl_z_one(funding_pctl, clip))
    z_b = clip_one(nan_to_num_one(z_basis), 0.0, clip)
    z_d = -log_one(depth) / m.asym_depth_scale if depth > 0 else _NAN
    z_d = clip_one(z_d if z_d == z_d else 0.0, -clip, clip)  # +-inf clip like nan_to_num
    asym = expit_one(asym_logit(z_oi, z_f, z_b, z_d, m))
    return RowFeatures(spread_rel, spread1, p_spread, flow, clip_one(hbar, 0.0, 1.0), kairos,
                       asym, z_oi, z_f, z_b, z_d)


def entrain_phase(direction: np.ndarray | float, age_s: np.ndarray | float,
                  horizon_s: float) -> np.ndarray | float:
    """A live detector's phase: pi * (1 - s) / 2 + pi * age / h (arrays or one value)."""
    return _PI * (1.0 - direction) / 2.0 + _PI * age_s / horizon_s


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
    by_coin = positions_by(wcoin)  # one pass, not a scan of every window per coin x det
    for coin, a, b in F.coin_blocks(coins):
        t = ts[a:b]
        mine = by_coin.get(coin)
        if mine is None:
            continue
        by_det = positions_by(wdet[mine])
        for det, h in horizons.items():
            pos = by_det.get(det)
            if pos is None:
                continue
            sel = mine[pos]
            j = np.searchsorted(wts[sel], t, side="right") - 1
            has = j >= 0
            jj = sel[np.maximum(j, 0)]
            age = (t - wts[jj]) / 1000.0
            live = has & (age < h)
            phase = entrain_phase(wdir[jj], age, h)
            re[a:b] += np.where(live, np.cos(phase), 0.0)
            im[a:b] += np.where(live, np.sin(phase), 0.0)
    return np.clip(np.hypot(re, im) / cohort, 0.0, 1.0)


def entrainment_one(last: Mapping[str, tuple[int, float]], ts: int,
                    cohort: tuple[tuple[str, int], ...]) -> tuple[list[str], float]:
    """entrainment at one row from each detector's latest window at or before it (`last`),
    and the detectors live there (quality.live_others' set: the same edges, age < h)."""
    re = im = 0.0
    live = []
    for det, h in cohort:
        got = last.get(det)
        if got is None:
            continue
        age = (ts - got[0]) / 1000.0
        if age < h:
            live.append(det)
            phase = entrain_phase(got[1], age, h)
            re += math.cos(phase)
            im += math.sin(phase)
    return live, (clip_one(math.hypot(re, im) / len(cohort), 0.0, 1.0) if cohort else 0.0)
