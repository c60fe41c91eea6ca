"""Window-level planted truth: learning frames with a known conditional effect, for measuring
the learner (`lotus validate`, bench/validity.py, the learning tests).

Each row is a window in which a detector fired, with the context columns the quantiser reads
and a realised net return; no market simulator runs. A `WindowSpec` says what is planted
and how hard it is to find:

- `effect` — where the planted detector gains `delta_bps`:
  `oi_hi` (open interest in its top tercile: exactly the quantiser's edge),
  `oi_top_quintile` (oi_pctl >= 0.8: off the tercile edges, so the `oi_pctl_bin=hi` literal
  carries 0.6 of it), `oi_hi_and_funding_hi` (an interaction: only the conjunction pays),
  `funding_top_bid` (a market-wide interaction: EVERY detector's long windows gain
  `delta_bps` while funding is in its top fifth, funding_pctl >= 0.8, AND the 5-level book
  leans to the bid, book_imb_5 >= 1/3; the spread, high with funding's top tercile
  `decoy_agreement` of the time, is its decoy: off the tercile edge, so the closest
  literal pair `funding_pctl_bin=hi & bimb5_bin=with` carries 0.6 of it on long windows;
  `null()` keeps this market at delta 0), `none` (a null).
- `shared` — the effect goes on every detector's windows, not the planted detector's
  alone: a context that moves the whole market (found by the pooled search, detector `*`,
  on three times the evidence).
- `outcome` — `additive` in the literals (the ridge outcome model is right) or
  `nonadditive` (+-`surface_bps`/2 on "trend regime XOR us session": an interaction the
  additive model cannot represent).
- `propensity` — how the treated context (high OI) is assigned: `literal` (through the
  regime only: the per-feature logistic model is right), `nonlinear` (through "trend AND us"
  and a continuous confounder behind a non-linear link: the logistic model on one-hot bins
  is wrong), or `positivity` (high OI almost only in the trend regime, whose own
  effect then cannot be told apart from it: an overlap failure).
- `cold_start_minutes` — the day's first minutes have no trailing percentiles (`na` bins, as a
  cold MicroTape gives), with `cold_start_bps` of extra return: a missing value that pays.
- `noise` — `normal`, `student_t` (3 degrees of freedom, heavy tails) or `hour_clustered`
  (a shock shared by every window of an hour).

Harder markets (each off by default, so every other market is draw for draw the
same with or without them):

- `latent_agreement` — an unobserved driver: with `effect="oi_hi"` the effect follows a
  latent state (drawn as high OI is, same propensity), and the observed top OI tercile is a
  noisy proxy of it: it copies the state `latent_agreement` of the time, else it is an
  independent draw with the same propensity. Given the other context, the proxy and the state
  then correlate exactly `latent_agreement` and the proxy's rule is worth
  `latent_agreement * delta_bps` (`planted_truth`, derived there).
- `noise_rv_slope` — heteroskedastic outcomes: the noise sd is multiplied by
  1 + slope * (rv_pctl - 0.5) (slope 1: 0.5x to 1.5x, 2x between the rv bins' means); the
  planted effect is unchanged.
- `ctx_gap_hours` — missing channels: on a seeded share (`ctx_gap_day_share`) of days, a
  seeded block of lo..hi whole hours has no activeAssetCtx, so the columns the quantiser reads
  from it (`CTX_COLUMNS`: oi_pctl, funding_pctl, oi_delta, basis_bps) are NaN there (bins
  `na`) while the planted effect goes on.
- `book_absent_coin` — a capture without the order book for one coin (bbo and trades only,
  as public captures often are): for a seeded coin, every day, the columns the MicroTape
  takes from l2Book are what it makes without one (docs/microtape.md, "NaN summary"):
  `BOOK_NAN_COLUMNS` NaN (bins `na`) and `cancel_rate` 0 (no book diffs, no cancels); the
  planted effect goes on, on the book the capture does not hold.
- `coin_outage_hours` — one coin's feed stops: on a seeded share (`coin_outage_day_share`)
  of days, a seeded coin has no windows at all for a seeded block of lo..hi whole hours (no
  tape, no detector fires); the other coins go on.
- `regime_shift` — from a seeded day (`shift_day`, never the first) the baseline changes:
  the trend regime's own effect flips sign and the confounding of high OI by the regime
  reverses (high OI then likelier outside trend); the planted effect persists (unlike
  `vanish_from_day`).

The book and tape columns (book imbalance at 1/5/10 levels, flow, aggressor run length,
microprice drift, basis, OI change, trend efficiency, cancel rate) come from a second seeded
stream, so the older columns are the same draws as before they existed. The aligned book
imbalance (direction * book_imb_5) is in its top tercile (>= 1/3) a third of the time, or,
with `confound_book`, with the same confounded propensity as high OI (the `propensity`
kinds then apply to it: set it for a `bimb_with` spec and its null); the aligned flow
tracks it `decoy_agreement` of the time (the decoy of a book effect); the rest is noise
around them.

`planted_truth(spec)` is the true uplift of `spec.planted_rule` (the estimand of the lesson
the learner should find). Deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from lotus_core.coin_list import default_coins
from lotus_core.microtape.context import SESSIONS
from lotus_core.signals.ids import window_ids

PLANTED = "planted_v1"
OI_HIGH = 2 / 3
BIMB_WITH = 1 / 3  # aligned book imbalance (in [-1, 1]) in its top tercile
TOP_QUINTILE = 0.8
COINS = default_coins()  # the coin list (lotus_core/coin_list.py)

Effect = Literal["oi_hi", "oi_top_quintile", "oi_hi_and_funding_hi", "bimb_with",
                 "funding_top_bid", "none"]
Outcome = Literal["additive", "nonadditive"]
Propensity = Literal["literal", "nonlinear", "positivity"]
Noise = Literal["normal", "student_t", "hour_clustered"]
CTX_COLUMNS = ("oi_pctl", "funding_pctl", "oi_delta", "basis_bps")
"""The quantiser's inputs that come from the activeAssetCtx channel (docs/microtape.md,
"Context"): NaN while it is missing. No quantised column comes from the candle channel."""
BOOK_NAN_COLUMNS = ("book_imb_1", "book_imb_5", "book_imb_10", "depth_5_rel")
"""NaN in the MicroTape without an l2Book frame (docs/microtape.md, "NaN summary")."""

RULES: dict[str, str] = {
    "oi_hi": "oi_pctl_bin=hi",
    "oi_top_quintile": "oi_pctl_bin=hi",
    "oi_hi_and_funding_hi": "funding_pctl_bin=hi&oi_pctl_bin=hi",
    "bimb_with": "bimb5_bin=with",
    "funding_top_bid": "bimb5_bin=with&funding_pctl_bin=hi",
    "none": "oi_pctl_bin=hi",
}


@dataclass(frozen=True)
class WindowSpec:
    days: int = 6
    start: str = "2026-03-02"
    windows_per_day: int = 1500  # per detector, all coins together
    detectors: tuple[str, ...] = (PLANTED, "noise_a_v1", "noise_b_v1")
    effect: Effect = "oi_hi"
    delta_bps: float = 6.0
    outcome: Outcome = "additive"
    propensity: Propensity = "literal"
    noise: Noise = "normal"
    noise_bps: float = 8.0
    decoy_agreement: float = 0.8  # funding tracks high OI this often (ignored: interaction);
    # for funding_top_bid: the spread is wide exactly when funding is in its top fifth this often
    confounding: float = 0.25  # how much likelier high OI is in the trend regime
    regime_effect_bps: float = 2.0  # the trend regime's own effect (every detector)
    surface_bps: float = 4.0  # size of the non-additive regime x session term
    session_effect_bps: float = 0.0  # the us session's own (additive) effect
    cold_start_minutes: int = 0  # windows this early in a day have no percentiles (nan)
    cold_start_bps: float = 0.0  # ... and this much extra return (an artefact of the hour)
    cold_start_columns: tuple[str, ...] = ("rv_pctl", "oi_pctl", "funding_pctl")
    vanish_from_day: int | None = None  # the planted effect is gone from this day index on
    confound_book: bool = False  # the book imbalance follows high OI's propensity
    latent_agreement: float | None = None  # oi_hi driven by a latent state; the observed top
    # OI tercile copies it this often (else an independent draw): None = OI itself drives it
    noise_rv_slope: float = 0.0  # noise sd x (1 + slope * (rv_pctl - 0.5)); 0: homoskedastic
    ctx_gap_hours: tuple[int, int] = (0, 0)  # an activeAssetCtx outage of lo..hi hours; 0: none
    ctx_gap_day_share: float = 0.5  # ... on this share of days (seeded)
    book_absent_coin: bool = False  # one seeded coin recorded without l2Book (bbo only)
    coin_outage_hours: tuple[int, int] = (0, 0)  # one coin's whole feed out lo..hi hours
    coin_outage_day_share: float = 0.5  # ... on this share of days (seeded)
    regime_shift: bool = False  # from a seeded day the regime's effect and confounding flip
    shared: bool = False  # the effect on every detector's windows (a market-wide context)

    def __post_init__(self) -> None:
        if self.latent_agreement is not None and (
                self.effect not in ("oi_hi", "none") or not 0.0 < self.latent_agreement <= 1.0):
            raise ValueError("latent_agreement: a share in (0, 1], for effect oi_hi (or none)")
        if not 0.0 <= self.noise_rv_slope < 2.0:
            raise ValueError("noise_rv_slope must be in [0, 2) (the sd stays positive)")
        for name in ("ctx_gap_hours", "coin_outage_hours"):
            lo, hi = getattr(self, name)
            if not (0 <= lo <= hi <= 24 and (hi == 0 or lo >= 1)):
                raise ValueError(f"{name}: (lo, hi) whole hours, 1 <= lo <= hi <= 24, "
                                 "or (0, 0) for none")
        if self.regime_shift and self.days < 2:
            raise ValueError("regime_shift needs at least 2 days (a day before the shift)")

    @property
    def planted_rule(self) -> str:
        return RULES[self.effect]

    def null(self) -> WindowSpec:
        """The same market with nothing planted (confounding and noise kept; a market-wide
        effect keeps its market, decoy included, at delta 0)."""
        if self.effect == "funding_top_bid":
            return replace(self, delta_bps=0.0)
        return replace(self, effect="none", delta_bps=0.0)


def planted_truth(spec: WindowSpec) -> float:
    """The true uplift (bps) of `spec.planted_rule` for the planted detector: the effect of
    its weakest split, E[Y(l) - Y(not l) | scope], while the effect is present."""
    if spec.effect == "none":
        return 0.0
    if spec.latent_agreement is not None:
        # proxy O, state S, a = latent_agreement, p = P(S | x) = P(O | x) for the other
        # context x: P(S | O, x) = a + (1 - a) p and P(S | not O, x) = (1 - a) p, so
        # E[Y | O, x] - E[Y | not O, x] = a * delta_bps for every x (and corr(S, O | x) = a)
        return spec.latent_agreement * spec.delta_bps
    if spec.effect == "oi_top_quintile":  # oi is uniform within its top tercile
        return spec.delta_bps * (1.0 - TOP_QUINTILE) / (1.0 - OI_HIGH)
    if spec.effect == "funding_top_bid":
        return pooled_truth(spec)
    return spec.delta_bps


def pooled_truth(spec: WindowSpec) -> float:
    """funding_top_bid: the true uplift of its rule `bimb5_bin=with & funding_pctl_bin=hi`
    over every detector's windows (the pooled estimand): each split's scope is half long
    windows (which carry the effect), and funding is in its top fifth on 0.6 of its top
    tercile (uniform within it), so both splits are 0.5 * 0.6 * delta_bps."""
    share_top = (1.0 - TOP_QUINTILE) / (1.0 - OI_HIGH)
    return 0.5 * share_top * spec.delta_bps if spec.effect == "funding_top_bid" else 0.0


def shift_day(spec: WindowSpec, seed: int) -> int | None:
    """The day index a `regime_shift` market changes from (seeded, in 1 .. days - 1), or
    None without one."""
    if not spec.regime_shift:
        return None
    return 1 + int(np.random.default_rng((seed, 37)).integers(0, spec.days - 1))


def shifted(spec: WindowSpec) -> WindowSpec:
    """The market after a regime shift: the trend regime's own effect and the regime's
    confounding of high OI both reversed."""
    return replace(spec, regime_effect_bps=-spec.regime_effect_bps,
                   confounding=-spec.confounding)


def _outage(hours: tuple[int, int], share: float, stream: tuple[int, ...],
            hour: np.ndarray) -> np.ndarray:
    """Windows inside a seeded block of `hours` (lo, hi) whole hours, on a seeded `share`
    of days; `stream` seeds it (its own: every other draw is kept)."""
    lo, hi = hours
    if hi == 0:
        return np.zeros(len(hour), dtype=bool)
    rng = np.random.default_rng(stream)
    if rng.random() >= share:
        return np.zeros(len(hour), dtype=bool)
    length = int(rng.integers(lo, hi + 1))
    first = int(rng.integers(0, 24 - length + 1))
    return (hour >= first) & (hour < first + length)


def ctx_gap_mask(spec: WindowSpec, seed: int, day: int, hour: np.ndarray) -> np.ndarray:
    """Windows of day index `day` inside its activeAssetCtx outage (all False on a day
    without one, or without `ctx_gap_hours`). Its own seeded stream: every other draw is
    kept."""
    return _outage(spec.ctx_gap_hours, spec.ctx_gap_day_share, (seed, 31, day), hour)


def bookless_coin(spec: WindowSpec, seed: int) -> str | None:
    """The coin recorded without l2Book (`book_absent_coin`), or None."""
    if not spec.book_absent_coin:
        return None
    return str(COINS[int(np.random.default_rng((seed, 41)).integers(0, len(COINS)))])


def coin_outage_mask(spec: WindowSpec, seed: int, day: int, hour: np.ndarray,
                     coin: np.ndarray) -> np.ndarray:
    """Windows of day index `day` that the coin whose feed is out that day would have had
    (`coin_outage_hours`; the coin and the block seeded per day)."""
    block = _outage(spec.coin_outage_hours, spec.coin_outage_day_share, (seed, 43, day), hour)
    if not block.any():
        return block
    out = COINS[int(np.random.default_rng((seed, 47, day)).integers(0, len(COINS)))]
    return block & (coin == out)


def _proxy(spec: WindowSpec, seed: int, day: int, state: np.ndarray,
           p: np.ndarray) -> np.ndarray:
    """The observed top OI tercile of a latent-driver market: the state `latent_agreement`
    of the time, else an independent draw with the state's propensity `p`."""
    assert spec.latent_agreement is not None
    rng = np.random.default_rng((seed, 23, day))
    n = len(state)
    return np.where(rng.random(n) < spec.latent_agreement, state, rng.random(n) < p)


def _session(hour: np.ndarray) -> np.ndarray:
    # asia 0-8, eu 8-13, us 13-24 (weekends are not simulated here)
    labels = np.array(SESSIONS, dtype=object)
    return labels[np.select([hour < 8, hour < 13], [0, 1], 2)]


def _p_oi_high(spec: WindowSpec, trend: np.ndarray, cell: np.ndarray,
               hbar: np.ndarray) -> np.ndarray:
    if spec.propensity == "positivity":
        return np.where(trend, 0.995, 0.005)
    if spec.propensity == "nonlinear":  # only in the trend regime's us session: no additive
        z = -1.6 + 3.5 * cell + 0.8 * np.sin(2 * np.pi * hbar)  # logit on the bins fits it
        return 1.0 / (1.0 + np.exp(-z))
    return np.clip(1 / 3 + spec.confounding * np.where(trend, 1, -0.5), 0.02, 0.98)


def _noise(spec: WindowSpec, rng: np.random.Generator, hour: np.ndarray) -> np.ndarray:
    n = len(hour)
    if spec.noise == "student_t":  # t(3) has variance 3: scale to noise_bps
        return rng.standard_t(3, n) * spec.noise_bps / np.sqrt(3.0)
    if spec.noise == "hour_clustered":  # half the variance is an hour's shared shock
        hours, idx = np.unique(hour, return_inverse=True)
        shock = rng.normal(0.0, spec.noise_bps * np.sqrt(0.5), len(hours))
        return shock[idx] + rng.normal(0.0, spec.noise_bps * np.sqrt(0.5), n)
    return rng.normal(0.0, spec.noise_bps, n)


def _effect(spec: WindowSpec, oi: np.ndarray, fund_high: np.ndarray,
            bimb_with: np.ndarray) -> np.ndarray:
    if spec.effect == "bimb_with":
        return bimb_with.astype(np.float64)
    if spec.effect == "oi_hi":
        return (oi >= OI_HIGH).astype(np.float64)
    if spec.effect == "oi_top_quintile":
        return (oi >= TOP_QUINTILE).astype(np.float64)
    if spec.effect == "oi_hi_and_funding_hi":
        return ((oi >= OI_HIGH) & fund_high).astype(np.float64)
    return np.zeros(len(oi))


def _split_uniform(rng: np.random.Generator, top: np.ndarray, cut: float) -> np.ndarray:
    """Uniform on [cut, 1] where `top`, else on [-1, cut)."""
    n = len(top)
    return np.where(top, rng.uniform(cut, 1.0, n), rng.uniform(-1.0, cut, n))


def _book_tape(spec: WindowSpec, rng: np.random.Generator, trend: np.ndarray,
               cell: np.ndarray, hbar: np.ndarray) -> dict[str, np.ndarray]:
    """Aligned (direction-free) book and tape values and the non-directional ones; see the
    module docstring. `bimb_with` marks the planted book context."""
    n = len(trend)
    p_with = _p_oi_high(spec, trend, cell, hbar) if spec.confound_book else np.full(n, 1 / 3)
    bimb_with = rng.random(n) < p_with
    bimb5 = _split_uniform(rng, bimb_with, BIMB_WITH)
    agree = 0.0 if spec.effect in INTERACTIONS else spec.decoy_agreement
    flow_with = np.where(rng.random(n) < agree, bimb_with, rng.random(n) < 1 / 3)
    flow = _split_uniform(rng, flow_with, BIMB_WITH)
    bimb1 = np.clip(bimb5 + rng.normal(0.0, 0.3, n), -1.0, 1.0)
    return {
        "bimb_with": bimb_with,
        "book_imb_1": bimb1,
        "book_imb_5": bimb5,
        "book_imb_10": np.clip(0.7 * bimb5 + rng.normal(0.0, 0.2, n), -1.0, 1.0),
        "flow": flow,
        "aggr_runlen": np.round(4.0 * flow + rng.normal(0.0, 1.5, n)),
        "microprice_drift_bps": 0.05 * bimb1 + rng.normal(0.0, 0.01, n),
        "basis_bps": rng.normal(0.0, 2.0, n),
        "oi_delta": rng.normal(0.0, 2e-4, n),
        "trend_eff": rng.beta(2.0, 12.0, n),
        "cancel_rate": rng.exponential(0.02, n),
    }


ALIGNED_COLUMNS = ("book_imb_1", "book_imb_5", "book_imb_10", "flow", "aggr_runlen",
                   "microprice_drift_bps")
BOOK_TAPE_COLUMNS = (*ALIGNED_COLUMNS, "basis_bps", "oi_delta", "trend_eff", "cancel_rate")


INTERACTIONS = ("oi_hi_and_funding_hi", "funding_top_bid")  # funding and flow: no decoys


def _spread_decoy(spec: WindowSpec, seed: int, day: int, fund: np.ndarray) -> np.ndarray:
    """funding_top_bid's decoy: the spread is high exactly when funding is in its top
    tercile `decoy_agreement` of the time (else independently a third of the time), and
    the widest fifth (`spread_bin=wide`) is drawn from the high ones independently of the
    funding level: tied to the funding literal, it says nothing about the planted top
    fifth that `funding_pctl_bin=hi` does not. Its own seeded stream, so every other
    column keeps its draws."""
    rng = np.random.default_rng((seed, 29, day))
    n = len(fund)
    high = np.where(rng.random(n) < spec.decoy_agreement, fund >= OI_HIGH,
                    rng.random(n) < 1 / 3)
    base = rng.lognormal(0.0, 0.3, n)
    return np.where(high, 2.0 + base, 0.7 * base)  # 0.7 * base < 2 up to 3.8 sd


def _plant_market_wide(spec: WindowSpec, seed: int, day: int, frame: pd.DataFrame,
                       held: np.ndarray) -> None:
    """funding_top_bid, in place: every detector's windows where `held` gain delta_bps
    (MFE/MAE keep their excursion beyond the return); the spread decoy replaces spread_rel.
    With delta_bps 0 (the null twin) the market, decoy included, is the same draw for draw."""
    y0 = frame["net_ret_bps"].to_numpy(dtype=np.float64)
    y = y0 + np.where(held, spec.delta_bps, 0.0)
    frame["net_ret_bps"] = y
    frame["hit"] = (y > 0).astype(np.float64)
    frame["mfe_bps"] = frame["mfe_bps"].to_numpy() - np.maximum(y0, 0.0) + np.maximum(y, 0.0)
    frame["mae_bps"] = frame["mae_bps"].to_numpy() - np.minimum(y0, 0.0) + np.minimum(y, 0.0)
    frame["planted"] = np.where(held, spec.delta_bps, 0.0)
    frame["spread_rel"] = _spread_decoy(spec, seed, day, frame["funding_pctl"].to_numpy())


def window_frame(spec: WindowSpec, seed: int) -> pd.DataFrame:
    """One row per window: ids, context columns, `net_ret_bps`, `hit`, MFE/MAE, and
    `planted` (the true effect on that window in bps, for checks only)."""
    rng = np.random.default_rng(seed)
    rng_bt = np.random.default_rng((seed, 17))  # the book/tape stream (module docstring)
    d0 = date.fromisoformat(spec.start)
    frames = []
    interaction = spec.effect in INTERACTIONS
    shift = shift_day(spec, seed)
    base_spec = spec
    for d in range(spec.days):
        spec = shifted(base_spec) if shift is not None and d >= shift else base_spec
        day = d0 + timedelta(days=d)
        base_ms = int(pd.Timestamp(day, tz="UTC").value // 1_000_000)
        n = spec.windows_per_day * len(spec.detectors)
        ts = base_ms + np.sort(rng.integers(0, 86_400_000, n))
        det = rng.choice(np.array(spec.detectors, dtype=object), n)
        regime = rng.choice(np.array(["quiet", "trend", "chop"], dtype=object), n)
        trend = regime == "trend"
        hour = (ts - base_ms) // 3_600_000
        session = _session(hour)
        us = session == "us"
        hbar = rng.random(n)
        p_high = _p_oi_high(spec, trend, (trend & us).astype(float), hbar)
        state = rng.random(n) < p_high  # high OI, or the latent state it proxies
        oi_high = state if spec.latent_agreement is None else \
            _proxy(spec, seed, d, state, p_high)
        oi = np.where(oi_high, rng.uniform(OI_HIGH, 1.0, n), rng.uniform(0.0, OI_HIGH, n))
        agree = 0.0 if interaction else spec.decoy_agreement
        fund_high = np.where(rng.random(n) < agree, oi_high, rng.random(n) < 1 / 3)
        fund = np.where(fund_high, rng.uniform(OI_HIGH, 1.0, n), rng.uniform(0, OI_HIGH, n))
        bt = _book_tape(spec, rng_bt, trend, (trend & us).astype(float), hbar)
        active = spec.vanish_from_day is None or d < spec.vanish_from_day
        bimb_with = bt.pop("bimb_with")
        on = (det == PLANTED) | spec.shared  # one detector's own effect, or everyone's
        planted = np.where(on & active, spec.delta_bps, 0.0) * (
            _effect(spec, oi, fund_high, bimb_with) if spec.latent_agreement is None
            else state.astype(np.float64))
        surface = 0.0
        if spec.outcome == "nonadditive":  # not representable by an additive model
            surface = spec.surface_bps * ((trend != us) - 0.5)
        cold = (ts - base_ms) < spec.cold_start_minutes * 60_000
        eps = _noise(spec, rng, hour)
        # drawn in the order the frame's columns always drew them (the same draws as before)
        coin = rng.choice(np.array(COINS, dtype=object), n)
        direction = rng.choice(np.array([-1, 1], dtype=np.int8), n)
        rv = rng.random(n)
        mx, depth = rng.random(n), rng.lognormal(0.0, 0.5, n)
        spread = rng.lognormal(0.0, 0.3, n)
        if spec.noise_rv_slope:  # heteroskedastic: the sd follows realised volatility
            eps = eps * (1.0 + spec.noise_rv_slope * (rv - 0.5))
        y = (-1.5 + spec.regime_effect_bps * trend + surface + planted
             + spec.session_effect_bps * (session == "us") + spec.cold_start_bps * cold
             + eps)
        frame = pd.DataFrame({
            "ts_ms": ts.astype(np.int64),
            "coin": coin,
            "detector_id": det,
            "direction": direction,
            "session": session,
            "regime": regime,
            "rv_pctl": rv,
            "oi_pctl": oi,
            "funding_pctl": fund,
            "kr_hbar": hbar,
            "mx_evidence": mx,
            "depth_5_rel": depth,
            "spread_rel": spread,
            "net_ret_bps": y,
            "hit": (y > 0).astype(np.float64),
            "mfe_bps": np.maximum(y, 0.0) + rng.exponential(2.0, n),
            "mae_bps": np.minimum(y, 0.0) - rng.exponential(2.0, n),
            "planted": planted,
            "date": day.isoformat(),
        })
        sign = frame["direction"].to_numpy(dtype=np.float64)
        if spec.effect == "funding_top_bid":
            _plant_market_wide(spec, seed, d, frame, active & (sign > 0)
                               & (fund >= TOP_QUINTILE) & bimb_with)
        for column in BOOK_TAPE_COLUMNS:  # aligned draws -> the raw, signed columns
            frame[column] = bt[column] * sign if column in ALIGNED_COLUMNS else bt[column]
        for column in spec.cold_start_columns:
            frame.loc[cold, column] = np.nan
        gap = ctx_gap_mask(spec, seed, d, hour)
        if gap.any():  # no activeAssetCtx these hours: its columns unknown, the market goes on
            for column in CTX_COLUMNS:
                frame.loc[gap, column] = np.nan
        no_book = bookless_coin(spec, seed)
        if no_book is not None:  # that coin's capture holds no l2Book: what the MicroTape makes
            bookless = frame["coin"].to_numpy() == no_book
            for column in BOOK_NAN_COLUMNS:
                frame.loc[bookless, column] = np.nan
            frame.loc[bookless, "cancel_rate"] = 0.0
        out = coin_outage_mask(spec, seed, d, hour, coin)
        if out.any():  # one coin's tape is not there: no window of it
            frame = frame.loc[~out]
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["ts_ms", "coin", "detector_id"], kind="stable").reset_index(drop=True)
    out = out.drop_duplicates(["ts_ms", "coin", "detector_id"]).reset_index(drop=True)
    out.insert(0, "window_id", window_ids(out["coin"], out["detector_id"], out["ts_ms"]))
    return out
