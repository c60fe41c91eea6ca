"""The latent state of one coin-day: everything planted, before any message is written.

Built for the whole day even when only a window of hours is rendered (it costs ~0.1 s per
coin), so an hours window reproduces those hours of the full day exactly, and the truth
file of a window is the matching slice of the full day's truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np

from lotus_core.synth.absorption import plan_absorption
from lotus_core.synth.book import BookModel
from lotus_core.synth.calendar import hourly_multipliers
from lotus_core.synth.coins import CoinProfile, coin_profile
from lotus_core.synth.effects import AppliedEffect, plan_effects
from lotus_core.synth.funding_oi import FundingOI, build_funding_oi
from lotus_core.synth.path import STEP_MS, STEPS_PER_S, PricePath, build_path
from lotus_core.synth.patterns import GAP_AFTER_EXTRA_S, Occurrence, schedule_hour
from lotus_core.synth.rng import Stream, coin_key, salt, stream
from lotus_core.synth.segments import (
    RegimeTrack,
    alternating_states,
    decoy_states,
    regime_track,
)
from lotus_core.synth.spec import SynthSpec
from lotus_core.synth.vocab import CONTEXT_NAMES
from lotus_core.time import DAY_S, HOUR_MS, day_start_ms
from lotus_core.venues.hyperliquid.numfmt import tick_decimals

TRADE_LOG_SD = 1.4  # log sd of ordinary taker notional
PRICE_MARGIN = 1.01  # the tick must stay valid a little above the day's highest mid


@dataclass(frozen=True)
class CoinLatent:
    """One coin-day's hidden state and the models that render it."""

    coin: str
    profile: CoinProfile
    day: date
    day_start_ms: int
    tick_decimals: int
    open_px: float
    close_px: float
    prev_day_px: float
    regimes: RegimeTrack
    contexts: dict[str, np.ndarray]
    occurrences: list[Occurrence]
    effects: list[AppliedEffect]
    path: PricePath
    funding_oi: FundingOI
    book: BookModel
    day_ntl_base: float
    cum_notional: np.ndarray  # expected USD notional traded since 00:00, per second

    @property
    def lot_size(self) -> float:
        return 10.0 ** -self.profile.sz_decimals

    @property
    def tick(self) -> float:
        return 10.0 ** -self.tick_decimals


def day_open_px(seed: int, coin: str, day_ordinal: int) -> float:
    """A slow deterministic price level per day, so consecutive days join up at midnight."""
    phases = np.random.default_rng(
        np.random.SeedSequence([seed, coin_key(coin), int(Stream.OPEN)])).uniform(0, 2 * math.pi, 3)
    d = float(day_ordinal)
    log_level = (0.12 * math.sin(2 * math.pi * d / 37.0 + phases[0])
                 + 0.08 * math.sin(2 * math.pi * d / 11.0 + phases[1])
                 + 0.03 * math.sin(2 * math.pi * d / 3.3 + phases[2]))
    return coin_profile(coin).ref_px * math.exp(log_level)


def build_contexts(seed: int, ordinal: int, coin: str, spec: SynthSpec) -> dict[str, np.ndarray]:
    """Per-second booleans for every latent context; decoys are rebuilt from what they track."""
    rng = stream(seed, ordinal, coin, Stream.CONTEXTS)
    contexts = {name: alternating_states(rng, spec.context_minutes) for name in CONTEXT_NAMES}
    decoy_rng = stream(seed, ordinal, coin, Stream.DECOYS)
    for decoy in spec.decoys:
        contexts[decoy.name] = decoy_states(decoy_rng, contexts[decoy.tracks], decoy.agreement)
    return contexts


def build_coin_latent(seed: int, day: date, coin: str, spec: SynthSpec) -> CoinLatent:
    """Simulate one coin's whole day of latent state."""
    profile = coin_profile(coin)
    ordinal = day.toordinal()
    start_ms = day_start_ms(day)
    hour_vol, hour_rate = hourly_multipliers(day)
    open_px = day_open_px(seed, coin, ordinal)
    close_px = day_open_px(seed, coin, ordinal + 1)
    regimes = regime_track(stream(seed, ordinal, coin, Stream.REGIMES))
    contexts = build_contexts(seed, ordinal, coin, spec)

    def session_vol(t_ms: int) -> float:
        return profile.vol_1s_bps * float(hour_vol[((t_ms - start_ms) // HOUR_MS) % 24])

    occurrences: list[Occurrence] = []
    for hour in range(24):
        occurrences += schedule_hour(
            stream(seed, ordinal, coin, Stream.PATTERNS, hour),
            coin=coin,
            day_label=day.isoformat(),
            hour_start_ms=start_ms + hour * HOUR_MS,
            rates=spec.pattern_rate_per_hour,
            gap_after_s=spec.max_horizon_s + GAP_AFTER_EXTRA_S,
            session_vol=session_vol,
        )
    effects = plan_effects(spec.effects, occurrences, contexts, start_ms)
    lean = None
    if spec.edges:  # the opt-in edge (synth/absorption.py); its own streams, after the rest
        episodes, moves, lean = plan_absorption(seed, ordinal, coin, start_ms, occurrences,
                                                session_vol)
        occurrences, effects = occurrences + episodes, effects + moves
    path = build_path(
        stream(seed, ordinal, coin, Stream.PATH),
        profile=profile, day_start_ms=start_ms, open_px=open_px, close_px=close_px,
        hour_vol=hour_vol, hour_rate=hour_rate, regimes=regimes,
        occurrences=occurrences, effects=effects,
    )
    decimals = tick_decimals(float(path.mid.max()) * PRICE_MARGIN, profile.sz_decimals)
    tick = 10.0 ** -decimals
    fo_rng = stream(seed, ordinal, coin, Stream.FUNDING_OI)
    base_oi = profile.oi_notional / open_px * float(fo_rng.uniform(0.8, 1.2))
    day_ntl_base = profile.day_volume_notional * float(fo_rng.uniform(0.7, 1.3))
    funding_oi = build_funding_oi(fo_rng, base_oi=base_oi, contexts=contexts,
                                  occurrences=occurrences, day_start_ms=start_ms)
    book = BookModel(
        salt=salt(seed, ordinal, coin),
        occupancy=profile.occupancy,
        base_lots=profile.touch_notional / open_px / 10.0 ** -profile.sz_decimals,
        tick_bps=tick / open_px * 1e4,
        m_ticks=path.mid / tick,
        lean=lean,
    )
    mean_notional = profile.trade_notional * math.exp(TRADE_LOG_SD**2 / 2)
    per_second = path.rate_hz.reshape(DAY_S, STEPS_PER_S).sum(axis=1, dtype=np.float64)
    cum_notional = np.cumsum(per_second * (STEP_MS / 1000) * mean_notional)
    return CoinLatent(
        coin=coin, profile=profile, day=day, day_start_ms=start_ms, tick_decimals=decimals,
        open_px=open_px, close_px=close_px,
        prev_day_px=day_open_px(seed, coin, ordinal - 1),
        regimes=regimes, contexts=contexts, occurrences=occurrences, effects=effects,
        path=path, funding_oi=funding_oi, book=book, day_ntl_base=day_ntl_base,
        cum_notional=cum_notional,
    )
