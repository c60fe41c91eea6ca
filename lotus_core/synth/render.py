"""Rendering one coin-hour of latent state into venue messages, vectorised per channel.

Every channel reads the same latent state (mid, spread, persistent book, fills), so the
book, bbo, trades, candles and asset context of a coin always agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lotus_core.synth.book import Levels
from lotus_core.synth.candles import candle_pushes
from lotus_core.synth.flow import Fills, Touch, ordinary_fills, spike_fills, sweep_fills
from lotus_core.synth.identities import UserPool, counterparties, trade_ids, tx_hashes
from lotus_core.synth.latent import CoinLatent
from lotus_core.synth.path import STEP_MS, STEPS_PER_S
from lotus_core.synth.rng import Stream, stream
from lotus_core.time import HOUR_MS
from lotus_core.venues.hyperliquid.encode import CoinWire
from lotus_core.venues.hyperliquid.numfmt import fixed_to_str, float_to_str

STEPS_PER_HOUR = 3600 * STEPS_PER_S
FAST_EVERY_MS = 500
FAST_JITTER_MS = 60
FAST_DEPTH = 5
SLOW_EVERY_MS = 5_000
SLOW_OFFSET_MS = 250
SLOW_JITTER_MS = 200
SLOW_DEPTH = 20
CTX_EVERY_MS = 3_000
CTX_JITTER_MS = 300
SPREAD_BUCKET_STEPS = 5 * STEPS_PER_S
IMPACT_TOUCH_MULT = 4.0  # impact notional, in multiples of the typical touch notional
DAY_NTL_DECIMALS = 4
RATE_DECIMALS = 10

RANK = {"trades": 0, "bbo": 1, "l2Book_fast": 2, "l2Book": 3, "candle": 4,
        "activeAssetCtx": 5}
"""Order of channels sharing one venue millisecond (the ordering is arbitrary but fixed)."""


@dataclass
class Rendered:
    """Messages of one coin-hour: venue time, channel rank, encoded message."""

    venue_ms: np.ndarray
    rank: np.ndarray
    payloads: list[bytes]


def _spread(rng: np.random.Generator, lat: CoinLatent, first_step: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Spread in ticks per step (short random runs), widened and thinned in vacuums."""
    probs = np.asarray(lat.profile.spread_probs)
    base = 1 + rng.choice(len(probs), size=STEPS_PER_HOUR // SPREAD_BUCKET_STEPS,
                          p=probs / probs.sum())
    spread = np.repeat(base, SPREAD_BUCKET_STEPS).astype(np.int64)
    thin = np.zeros(STEPS_PER_HOUR, dtype=bool)
    for occ in lat.occurrences:
        if occ.type != "depth_vacuum":
            continue
        lo = int(lat.path.step_of(occ.start_ms)) - first_step
        hi = int(lat.path.step_of(occ.end_ms)) - first_step
        if hi <= 0 or lo >= STEPS_PER_HOUR:
            continue
        lo, hi = max(lo, 0), min(hi, STEPS_PER_HOUR)
        spread[lo:hi] = np.maximum(spread[lo:hi], int(occ.params["spread_ticks"]))
        thin[lo:hi] = True
    return spread, thin


def _book_frames(lat: CoinLatent, wire: CoinWire, touch: Touch, times: np.ndarray,
                 depth: int, fast: bool) -> list[bytes]:
    steps = lat.path.step_of(times)
    rows = touch.rows(steps)
    bids = lat.book.side(steps, touch.bid[rows], -1, depth, touch.thin[rows])
    asks = lat.book.side(steps, touch.ask[rows], 1, depth, touch.thin[rows])
    return wire.l2books(times.tolist(), bids, asks, fast)


def _bbo(lat: CoinLatent, wire: CoinWire, touch: Touch, block_ms: np.ndarray
         ) -> tuple[np.ndarray, list[bytes]]:
    """A bbo push on every block where the best bid or ask (price, size or count) changed."""
    steps = touch.first_step + np.arange(len(touch.bid))
    bids = lat.book.side(steps, touch.bid, -1, 1, touch.thin)
    asks = lat.book.side(steps, touch.ask, 1, 1, touch.thin)
    state = np.stack([bids.px[:, 0], bids.lots[:, 0], bids.n[:, 0],
                      asks.px[:, 0], asks.lots[:, 0], asks.n[:, 0]], axis=1)
    changed = np.concatenate(([True], (state[1:] != state[:-1]).any(axis=1)))
    rows = np.flatnonzero(changed)
    pick = [Levels(lv.px[rows], lv.lots[rows], lv.n[rows]) for lv in (bids, asks)]
    times = block_ms[rows]
    return times, wire.bbos(times.tolist(), pick[0], pick[1])


def _fills(rng: np.random.Generator, lat: CoinLatent, touch: Touch, hour_start: int) -> Fills:
    parts = [ordinary_fills(rng, lat, touch)]
    hour_end = hour_start + HOUR_MS
    for occ in lat.occurrences:
        if not hour_start <= occ.start_ms < hour_end:
            continue
        if occ.type == "sweep":
            parts.append(sweep_fills(lat, touch, occ.start_ms, occ.end_ms, occ.direction,
                                     float(occ.params["move_bps"])))
        elif occ.type == "wick_triplet":
            for spike in occ.params["spikes"]:
                parts.append(spike_fills(rng, lat, touch, int(spike["peak_ms"]), occ.direction))
    return Fills.concat(parts)


def _trades(rng: np.random.Generator, wire: CoinWire, fills: Fills, time_ms: np.ndarray,
            users: UserPool, seen_tids: set[int]) -> tuple[np.ndarray, list[bytes]]:
    """One trades message per block with fills, trades in fill order."""
    n = len(fills.step)
    if n == 0:
        return np.zeros(0, dtype=np.int64), []
    tids = trade_ids(rng, n, seen_tids)
    hashes = tx_hashes(rng, n)
    buyers, sellers = counterparties(rng, users, fills.side)
    trade = wire.trade
    rows = [trade(s, p, q, t, h, tid, b, se) for s, p, q, t, h, tid, b, se in zip(
        fills.side.tolist(), fills.px.tolist(), fills.lots.tolist(), time_ms.tolist(),
        hashes, tids, buyers, sellers, strict=True)]
    starts = np.flatnonzero(np.concatenate(([True], fills.step[1:] != fills.step[:-1])))
    bounds = np.append(starts, n).tolist()
    payloads = [wire.trades(rows[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return time_ms[starts], payloads


def _candles(wire: CoinWire, fills: Fills, time_ms: np.ndarray) -> tuple[np.ndarray, list[bytes]]:
    cp = candle_pushes(time_ms, fills.px, fills.lots)
    payloads = [wire.candle(*row) for row in zip(
        cp.t_open.tolist(), cp.o.tolist(), cp.c.tolist(), cp.h.tolist(), cp.low.tolist(),
        cp.v_lots.tolist(), cp.n.tolist(), strict=True)]
    return cp.time_ms, payloads


def impact_px(px: np.ndarray, lots: np.ndarray, lot: float, tick: float, target: float
              ) -> np.ndarray:
    """Price (ticks) of the level where the cumulative notional first reaches `target`
    (the venue's impact price); the deepest level when none does."""
    notional = np.cumsum(lots * px, axis=1) * (lot * tick)
    col = np.minimum((notional < target).sum(axis=1), px.shape[1] - 1)
    return px[np.arange(len(px)), col]


def asset_ctx_payloads(wire: CoinWire, prev_px: str, funding: list[str], oi: np.ndarray,
                       premium: np.ndarray, oracle: np.ndarray, bid: np.ndarray,
                       ask: np.ndarray, impact_bid: np.ndarray, impact_ask: np.ndarray,
                       day_ntl: np.ndarray, mid: np.ndarray) -> list[bytes]:
    """activeAssetCtx messages as the venue writes them, one per row: `funding` already
    formatted (each generator keeps its own rate type), prices in ticks, mark = the mid on
    the tick grid, dayBaseVlm = notional over the mid."""
    szd, d = wire.sz_decimals, wire.tick_decimals
    payloads = []
    for f, o, pr, orc, b, a, ib, ia, v, m in zip(
            funding, oi.tolist(), premium.tolist(), oracle.tolist(), bid.tolist(),
            ask.tolist(), impact_bid.tolist(), impact_ask.tolist(), day_ntl.tolist(),
            mid.tolist(), strict=True):
        payloads.append(wire.asset_ctx({
            "funding": f,
            "openInterest": float_to_str(o, szd),
            "prevDayPx": prev_px,
            "dayNtlVlm": float_to_str(v, DAY_NTL_DECIMALS),
            "premium": float_to_str(pr, RATE_DECIMALS),
            "oraclePx": wire.px(orc),
            "markPx": wire.px((b + a) // 2),
            "midPx": fixed_to_str((b + a) * 5, d + 1),
            "impactPxs": [wire.px(ib), wire.px(ia)],
            "dayBaseVlm": float_to_str(v / m, szd),
        }))
    return payloads


def _asset_ctx(rng: np.random.Generator, lat: CoinLatent, wire: CoinWire, touch: Touch,
               hour_start: int) -> tuple[np.ndarray, list[bytes]]:
    """activeAssetCtx every ~3 s: funding/OI/premium from the latent series, prices from the
    book at that instant (mark = mid on the tick grid, oracle = mid less the premium)."""
    count = HOUR_MS // CTX_EVERY_MS
    times = hour_start + CTX_EVERY_MS * np.arange(count) + rng.integers(0, CTX_JITTER_MS, count)
    steps = lat.path.step_of(times)
    rows = touch.rows(steps)
    sec = (times - lat.day_start_ms) // 1000
    bid, ask = touch.bid[rows], touch.ask[rows]
    bids = lat.book.side(steps, bid, -1, SLOW_DEPTH, touch.thin[rows])
    asks = lat.book.side(steps, ask, 1, SLOW_DEPTH, touch.thin[rows])
    target = IMPACT_TOUCH_MULT * lat.profile.touch_notional
    impact_bid = impact_px(bids.px, bids.lots, lat.lot_size, lat.tick, target)
    impact_ask = impact_px(asks.px, asks.lots, lat.lot_size, lat.tick, target)
    mid = (bid + ask) * (lat.tick / 2)
    premium = lat.funding_oi.premium[sec]
    oracle = np.rint(mid * (1 - premium) / lat.tick).astype(np.int64)
    ntl = lat.day_ntl_base * (1 - sec / 86_400) + lat.cum_notional[sec]
    prev_px = wire.px(round(lat.prev_day_px / lat.tick))
    funding = [float_to_str(f, RATE_DECIMALS) for f in lat.funding_oi.funding[sec].tolist()]
    payloads = asset_ctx_payloads(wire, prev_px, funding, lat.funding_oi.open_interest[sec],
                                  premium, oracle, bid, ask, impact_bid, impact_ask, ntl, mid)
    return times, payloads


def render_coin_hour(lat: CoinLatent, hour: int, seed: int, wire: CoinWire, users: UserPool,
                     seen_tids: set[int]) -> Rendered:
    """All messages of one coin for one UTC hour, unsorted across channels."""
    ordinal = lat.day.toordinal()

    def rng(which: Stream) -> np.random.Generator:
        return stream(seed, ordinal, lat.coin, which, hour)

    first_step = hour * STEPS_PER_HOUR
    hour_start = lat.day_start_ms + hour * HOUR_MS
    steps = first_step + np.arange(STEPS_PER_HOUR)
    times_rng = rng(Stream.BOOK_TIMES)
    block_ms = lat.day_start_ms + steps * STEP_MS + times_rng.integers(0, STEP_MS, STEPS_PER_HOUR)
    n_fast, n_slow = HOUR_MS // FAST_EVERY_MS, HOUR_MS // SLOW_EVERY_MS
    fast_ms = (hour_start + FAST_EVERY_MS * np.arange(n_fast)
               + times_rng.integers(0, FAST_JITTER_MS, n_fast))
    slow_ms = (hour_start + SLOW_EVERY_MS * np.arange(n_slow) + SLOW_OFFSET_MS
               + times_rng.integers(0, SLOW_JITTER_MS, n_slow))
    spread, thin = _spread(rng(Stream.SPREAD), lat, first_step)
    bid, ask = lat.book.touch(steps, spread)
    touch = Touch(first_step, bid, ask, thin)

    wire.reset()
    venue: list[np.ndarray] = []
    ranks: list[np.ndarray] = []
    payloads: list[bytes] = []

    def add(times: np.ndarray, rank: str, encoded: list[bytes]) -> None:
        venue.append(np.asarray(times, dtype=np.int64))
        ranks.append(np.full(len(encoded), RANK[rank], dtype=np.int64))
        payloads.extend(encoded)

    add(fast_ms, "l2Book_fast", _book_frames(lat, wire, touch, fast_ms, FAST_DEPTH, True))
    add(slow_ms, "l2Book", _book_frames(lat, wire, touch, slow_ms, SLOW_DEPTH, False))
    bbo_ms, bbo_payloads = _bbo(lat, wire, touch, block_ms)
    add(bbo_ms, "bbo", bbo_payloads)
    fills = _fills(rng(Stream.TRADES), lat, touch, hour_start)
    fill_ms = block_ms[fills.step - first_step]
    trade_ms, trade_payloads = _trades(rng(Stream.IDS), wire, fills, fill_ms, users, seen_tids)
    add(trade_ms, "trades", trade_payloads)
    candle_ms, candle_payloads = _candles(wire, fills, fill_ms)
    add(candle_ms, "candle", candle_payloads)
    ctx_ms, ctx_payloads = _asset_ctx(rng(Stream.CTX_TIMES), lat, wire, touch, hour_start)
    add(ctx_ms, "activeAssetCtx", ctx_payloads)
    return Rendered(np.concatenate(venue), np.concatenate(ranks), payloads)
