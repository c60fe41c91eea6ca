"""Entry points: write flow-market days in the synth recording format, with their truth.

`generate_day` writes `<out_dir>/<YYYY-MM-DD>.jsonl.gz` and `<YYYY-MM-DD>.truth.json`
through synth's recording writer; the output is a pure function of (seed, spec, day,
coins, hours), byte for byte. The order flow is simulated from two minutes before the
first requested hour, so an hours window starts its own market: (12, 14) is not a slice
of (0, 24) for the book, while funding, open interest and the day's level are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from lotus_core.flowmarket.funding import funding_hours
from lotus_core.flowmarket.planted import Planter, lean
from lotus_core.flowmarket.queues import CTX, FAST, SLOW, Book, FlowParams, simulate
from lotus_core.flowmarket.render import CtxInputs, block_times, render_hour
from lotus_core.flowmarket.seeds import ALL_COINS, Part, rng
from lotus_core.flowmarket.slow import day_level, open_interest
from lotus_core.flowmarket.spec import FlowSpec
from lotus_core.flowmarket.truth import build_truth, coin_truth
from lotus_core.synth.coins import coin_profile
from lotus_core.synth.days import Progress, check_day_args, generate_days_with, write_day_feed
from lotus_core.synth.identities import UserPool
from lotus_core.synth.render import (
    CTX_EVERY_MS,
    CTX_JITTER_MS,
    FAST_EVERY_MS,
    FAST_JITTER_MS,
    SLOW_EVERY_MS,
    SLOW_JITTER_MS,
    SLOW_OFFSET_MS,
    Rendered,
)
from lotus_core.synth.truth import write_truth
from lotus_core.time import DAY_MS, HOUR_MS, day_start_ms
from lotus_core.venues.hyperliquid.encode import CoinWire
from lotus_core.venues.hyperliquid.numfmt import fixed_to_str, tick_decimals

WARMUP_MS = 120_000  # flow simulated before the first hour, so the book starts lived-in
PRICE_MARGIN = 1.25  # the tick grid is valid up to this multiple of the day's level


def snapshot_times(r: np.random.Generator, t0_ms: int) -> dict[int, np.ndarray]:
    """The hour's fast and slow l2Book and asset-context instants (synth's cadences)."""
    n_fast, n_slow, n_ctx = HOUR_MS // FAST_EVERY_MS, HOUR_MS // SLOW_EVERY_MS, \
        HOUR_MS // CTX_EVERY_MS
    return {
        FAST: t0_ms + FAST_EVERY_MS * np.arange(n_fast) + r.integers(0, FAST_JITTER_MS, n_fast),
        SLOW: (t0_ms + SLOW_EVERY_MS * np.arange(n_slow) + SLOW_OFFSET_MS
               + r.integers(0, SLOW_JITTER_MS, n_slow)),
        CTX: t0_ms + CTX_EVERY_MS * np.arange(n_ctx) + r.integers(0, CTX_JITTER_MS, n_ctx),
    }


@dataclass
class _Trace:
    """Per fast snapshot: time, both contexts' direction (0: not holding)."""

    times: list[np.ndarray]
    context: list[np.ndarray]
    decoy: list[np.ndarray]


class CoinRun:
    """One coin's market across the hours of a day: its book, funding and planted moves."""

    def __init__(self, seed: int, day: date, coin: str, spec: FlowSpec, start_ms: int,
                 end_ms: int) -> None:
        self.seed, self.coin, self.spec = seed, coin, spec
        self.ordinal = day.toordinal()
        self.day_start = day_start_ms(day)
        self.profile = coin_profile(coin)
        self.level = day_level(seed, self.profile, self.ordinal)
        self.prev_level = day_level(seed, self.profile, self.ordinal - 1)
        self.decimals = tick_decimals(self.level * PRICE_MARGIN, self.profile.sz_decimals)
        self.tick = 10.0 ** -self.decimals
        self.params = FlowParams.for_coin(self.profile, self.level, self.tick)
        self.book = Book(self.params, self.level / self.tick)
        warm = [rng(seed, self.ordinal, coin, Part.WARMUP, h) for h in (0, 1)]  # flow, deep
        simulate(self.book, start_ms - WARMUP_MS, start_ms, warm[0], warm[1], {})
        self.funding = funding_hours(seed, coin, start_ms, end_ms, spec)
        i = spec.interaction
        self.planter = Planter(i.delta_bps, i.horizon_min, spec.planted)
        self.wire = CoinWire(coin, self.decimals, self.profile.sz_decimals)
        self.trace = _Trace([], [], [])
        self.last_top: np.ndarray | None = None
        self.ntl = 0.0

    def _rng(self, part: Part, hour: int) -> np.random.Generator:
        return rng(self.seed, self.ordinal, self.coin, part, hour)

    def hour(self, hour: int, users: UserPool, seen_tids: set[int]) -> Rendered:
        t0 = self.day_start + hour * HOUR_MS
        times = snapshot_times(self._rng(Part.TIMES, hour), t0)
        flow = simulate(self.book, t0, t0 + HOUR_MS, self._rng(Part.FLOW, hour),
                        self._rng(Part.DEEP, hour), times)
        i = self.spec.interaction
        bids, asks = flow.books[FAST]
        b = bids.lots[:, :i.lean_levels].sum(axis=1)
        a = asks.lots[:, :i.lean_levels].sum(axis=1)
        side = lean(bids.lots[:, :i.lean_levels], asks.lots[:, :i.lean_levels],
                    i.lean_threshold)
        hours_of = self.funding.at(times[FAST])
        context = np.where(self.funding.high[hours_of], side, 0)
        decoy = np.where(self.funding.above_mean[hours_of], side, 0)
        mid = (bids.px[:, 0] + asks.px[:, 0]) / 2.0
        self.planter.trigger(times[FAST], context, (b - a) / (b + a), mid)
        self.trace.times.append(times[FAST])
        self.trace.context.append(context)
        self.trace.decoy.append(decoy)
        blocks = block_times(t0, len(flow.top))
        offset_at = {"block": self.planter.offset(blocks),
                     "fast": self.planter.offset(times[FAST]),
                     "slow": self.planter.offset(times[SLOW]),
                     "ctx": self.planter.offset(times[CTX])}
        ctx_ms = times[CTX]
        ctx = CtxInputs(
            funding=self.funding.funding[self.funding.at(ctx_ms)],
            open_interest=open_interest(self.seed, self.profile, ctx_ms),
            base_ntl=self.profile.day_volume_notional * (1 - (ctx_ms - self.day_start) / DAY_MS),
            ntl_before=self.ntl, prev_day_px=self.prev_level,
            touch_notional=self.profile.touch_notional)
        out = render_hour(wire=self.wire, flow=flow, t0_ms=t0, times=times, offset_at=offset_at,
                          ctx_rng=self._rng(Part.CTX, hour), ids_rng=self._rng(Part.IDS, hour),
                          users=users, seen_tids=seen_tids, previous_top=self.last_top,
                          ctx=ctx, tick=self.tick)
        self.last_top = out.last_top
        self.ntl += out.notional
        return out.rendered

    def truth(self, end_ms: int) -> dict[str, Any]:
        p = self.params
        params = {"open_px": round(self.level, 6), "prev_day_px": round(self.prev_level, 6),
                  "tick": fixed_to_str(1, self.decimals), "tick_decimals": self.decimals,
                  "sz_decimals": self.profile.sz_decimals, "grid_ticks": p.grid,
                  "limit_lots_mean": round(p.limit_lots, 3),
                  "market_lots_mean": round(p.market_lots, 3)}
        cat = np.concatenate
        return coin_truth(params=params, funding=self.funding, times=cat(self.trace.times),
                          context=cat(self.trace.context), decoy=cat(self.trace.decoy),
                          effects=self.planter.effects, end_ms=end_ms)


def generate_day(out_dir: Path, day: date, coins: list[str], seed: int, spec: FlowSpec,
                 hours: tuple[int, int] = (0, 24), progress: Progress | None = None
                 ) -> list[Path]:
    """Write one flow-market day; returns [feed path, truth path]."""
    check_day_args(coins, seed, spec, FlowSpec, hours)
    day = date(day.year, day.month, day.day)
    hours = (int(hours[0]), int(hours[1]))
    seed = int(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ordinal = day.toordinal()
    start_ms = day_start_ms(day) + hours[0] * HOUR_MS
    end_ms = day_start_ms(day) + hours[1] * HOUR_MS
    runs = [CoinRun(seed, day, coin, spec, start_ms, end_ms) for coin in coins]
    users = UserPool.draw(rng(seed, ordinal, ALL_COINS, Part.USERS))
    seen_tids: set[int] = set()
    feed_path = out_dir / f"{day.isoformat()}.jsonl.gz"
    lines = write_day_feed(
        feed_path, day, coins, hours,
        lambda hour: [run.hour(hour, users, seen_tids) for run in runs],
        lambda hour: rng(seed, ordinal, ALL_COINS, Part.LATENCY, hour), progress)
    truth_path = out_dir / f"{day.isoformat()}.truth.json"
    write_truth(truth_path, build_truth(
        day=day, seed=seed, spec=spec, coins=list(coins), hours=hours, start_ms=start_ms,
        end_ms=end_ms, feed_path=feed_path, lines=lines,
        per_coin={run.coin: run.truth(end_ms) for run in runs}))
    return [feed_path, truth_path]


def generate_days(out_dir: Path, start: date, days: int, coins: list[str], seed: int,
                  spec: FlowSpec, hours: tuple[int, int] = (0, 24),
                  progress: Progress | None = None, workers: int = 1) -> list[Path]:
    """Write `days` consecutive days from `start`; returns feed and truth paths per day.

    Days are independent pure functions, so `workers` > 1 writes them side by side in
    forked processes (same bytes; progress is then not reported)."""
    return generate_days_with(generate_day, FlowSpec, out_dir, start, days, coins, seed, spec,
                              hours, progress, workers)
