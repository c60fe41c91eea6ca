"""One coin-hour of the simulated flow as venue messages, through synth's wire encoders.

Prices are the simulated ticks plus the planted offset at the message's time; sizes,
counts, times and the number of messages never depend on what is planted, so a twin pair
has the same lines in the same order and the same receive latencies. A bbo is pushed on
every block where the unplanted best quote (price, size or count) changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lotus_core.flowmarket.funding import FUNDING_MEAN, FUNDING_UNIT
from lotus_core.flowmarket.queues import BLOCK_MS, CTX, FAST, SLOW, Fills, HourFlow
from lotus_core.synth.book import Levels
from lotus_core.synth.candles import candle_pushes
from lotus_core.synth.identities import UserPool, counterparties, trade_ids, tx_hashes
from lotus_core.synth.render import (
    IMPACT_TOUCH_MULT,
    RANK,
    RATE_DECIMALS,
    Rendered,
    asset_ctx_payloads,
    impact_px,
)
from lotus_core.venues.hyperliquid.encode import CoinWire
from lotus_core.venues.hyperliquid.numfmt import fixed_to_str

PREMIUM_PER_FUNDING = 4.0
PREMIUM_NOISE_SD = 5.0e-5


@dataclass(frozen=True)
class CtxInputs:
    """The slow values at each context push."""

    funding: np.ndarray  # 1e-10 units
    open_interest: np.ndarray
    base_ntl: np.ndarray  # the rolling 24 h notional not made by the simulated hours
    ntl_before: float  # notional traded by the simulated hours before this one
    prev_day_px: float
    touch_notional: float


def shifted(levels: Levels, offset: np.ndarray) -> Levels:
    return Levels(levels.px + offset[:, None], levels.lots, levels.n)


def block_times(t0_ms: int, n_blocks: int) -> np.ndarray:
    """The venue time of each block: its last millisecond."""
    return t0_ms + BLOCK_MS * np.arange(1, n_blocks + 1) - 1


def _bbo(wire: CoinWire, flow: HourFlow, times: np.ndarray, offset: np.ndarray,
         previous: np.ndarray | None) -> tuple[np.ndarray, list[bytes]]:
    top = flow.top
    before = np.concatenate(([top[0] if previous is None else previous], top[:-1]))
    changed = (top != before).any(axis=1)
    if previous is None:
        changed[0] = True
    rows = np.flatnonzero(changed)
    off = offset[rows]
    bids = Levels(top[rows, 0:1] + off[:, None], top[rows, 1:2], top[rows, 2:3])
    asks = Levels(top[rows, 3:4] + off[:, None], top[rows, 4:5], top[rows, 5:6])
    return times[rows], wire.bbos(times[rows].tolist(), bids, asks)


def _trades(rng: np.random.Generator, wire: CoinWire, fills: Fills, block: np.ndarray,
            time_ms: np.ndarray, px: np.ndarray, users: UserPool, seen_tids: set[int]
            ) -> tuple[np.ndarray, list[bytes]]:
    """One trades message per block with fills, in fill order."""
    n = len(block)
    if n == 0:
        return np.zeros(0, dtype=np.int64), []
    tids = trade_ids(rng, n, seen_tids)
    hashes = tx_hashes(rng, n)
    buyers, sellers = counterparties(rng, users, fills.side)
    rows = [wire.trade(s, p, q, t, h, tid, b, se) for s, p, q, t, h, tid, b, se in zip(
        fills.side.tolist(), px.tolist(), fills.lots.tolist(), time_ms.tolist(), hashes, tids,
        buyers, sellers, strict=True)]
    starts = np.flatnonzero(np.concatenate(([True], block[1:] != block[:-1])))
    bounds = np.append(starts, n).tolist()
    payloads = [wire.trades(rows[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return time_ms[starts], payloads


def _asset_ctx(rng: np.random.Generator, wire: CoinWire, times: np.ndarray, bids: Levels,
               asks: Levels, inputs: CtxInputs, tick: float, day_ntl: np.ndarray
               ) -> list[bytes]:
    """activeAssetCtx: funding of the hour, slow open interest, prices from the book."""
    lot = 10.0 ** -wire.sz_decimals
    bid, ask = bids.px[:, 0], asks.px[:, 0]
    mid = (bid + ask) * (tick / 2)
    funding = inputs.funding * FUNDING_UNIT
    premium = ((funding - FUNDING_MEAN) * PREMIUM_PER_FUNDING
               + PREMIUM_NOISE_SD * rng.standard_normal(len(times)))
    oracle = np.rint(mid * (1 - premium) / tick).astype(np.int64)
    target = IMPACT_TOUCH_MULT * inputs.touch_notional
    ib = impact_px(bids.px, bids.lots, lot, tick, target)
    ia = impact_px(asks.px, asks.lots, lot, tick, target)
    prev_px = wire.px(round(inputs.prev_day_px / tick))
    rates = [fixed_to_str(f, RATE_DECIMALS) for f in inputs.funding.tolist()]
    return asset_ctx_payloads(wire, prev_px, rates, inputs.open_interest, premium, oracle,
                              bid, ask, ib, ia, day_ntl, mid)


@dataclass(frozen=True)
class HourMessages:
    """A rendered coin-hour and what the next hour and the truth need from it."""

    rendered: Rendered
    last_top: np.ndarray
    notional: float  # traded in this hour (at planted prices)


def render_hour(*, wire: CoinWire, flow: HourFlow, t0_ms: int, times: dict[int, np.ndarray],
                offset_at: dict[str, np.ndarray], ctx_rng: np.random.Generator,
                ids_rng: np.random.Generator, users: UserPool, seen_tids: set[int],
                previous_top: np.ndarray | None, ctx: CtxInputs, tick: float) -> HourMessages:
    """All messages of one coin-hour, unsorted across channels.

    `offset_at` holds the planted offset (ticks) at the blocks and at each snapshot kind's
    instants ("block", "fast", "slow", "ctx")."""
    wire.reset()
    venue: list[np.ndarray] = []
    ranks: list[np.ndarray] = []
    payloads: list[bytes] = []

    def add(when: np.ndarray, rank: str, encoded: list[bytes]) -> None:
        venue.append(np.asarray(when, dtype=np.int64))
        ranks.append(np.full(len(encoded), RANK[rank], dtype=np.int64))
        payloads.extend(encoded)

    for kind, name, fast, rank in ((FAST, "fast", True, "l2Book_fast"),
                                   (SLOW, "slow", False, "l2Book")):
        bids, asks = flow.books[kind]
        off = offset_at[name]
        add(times[kind], rank, wire.l2books(times[kind].tolist(), shifted(bids, off),
                                            shifted(asks, off), fast))
    blocks = block_times(t0_ms, len(flow.top))
    bbo_ms, bbo_payloads = _bbo(wire, flow, blocks, offset_at["block"], previous_top)
    add(bbo_ms, "bbo", bbo_payloads)
    fills = flow.fills
    block = ((fills.t_ms - t0_ms) // BLOCK_MS).astype(np.int64)
    fill_ms = blocks[block]
    fill_px = fills.px + offset_at["block"][block]
    trade_ms, trade_payloads = _trades(ids_rng, wire, fills, block, fill_ms, fill_px, users,
                                       seen_tids)
    add(trade_ms, "trades", trade_payloads)
    cp = candle_pushes(fill_ms, fill_px, fills.lots)
    add(cp.time_ms, "candle", [wire.candle(*row) for row in zip(
        cp.t_open.tolist(), cp.o.tolist(), cp.c.tolist(), cp.h.tolist(), cp.low.tolist(),
        cp.v_lots.tolist(), cp.n.tolist(), strict=True)])
    unit = tick * 10.0 ** -wire.sz_decimals
    cum = np.cumsum(fill_px * fills.lots) * unit
    upto = np.searchsorted(fill_ms, times[CTX], side="right")
    day_ntl = ctx.base_ntl + ctx.ntl_before + np.concatenate(([0.0], cum))[upto]
    bids, asks = flow.books[CTX]
    off = offset_at["ctx"]
    add(times[CTX], "activeAssetCtx", _asset_ctx(ctx_rng, wire, times[CTX], shifted(bids, off),
                                                 shifted(asks, off), ctx, tick, day_ntl))
    notional = float(cum[-1]) if len(cum) else 0.0
    return HourMessages(Rendered(np.concatenate(venue), np.concatenate(ranks), payloads),
                        flow.top[-1].copy(), notional)
