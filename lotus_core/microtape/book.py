"""Top of book and depth features, as of each grid time.

Top of book comes from the most recently received two-sided quote, l2Book (fast or slow) or
bbo alike; one-sided quotes are skipped (the age of the quote in use keeps growing in
`stale_ms`). Depth comes from l2Book frames only: top 1 and 5 from the latest frame of
either kind, top 10 and the slope from the latest slow (20-level) frame.

Each per-frame rule has its one-frame form beside it (`imbalance_of`, `top_of`, `slope_of`),
the live tape's (lotus_core.microtape.build.TapeStream), on the same constants.
"""

from __future__ import annotations

import numpy as np

from lotus_core.microtape.grid import (
    NAN,
    asof,
    div_of,
    nan_to_num_of,
    rolling_median,
    safe_ratio,
    take,
)
from lotus_core.microtape.inputs import Books, CoinInputs, depth_of
from lotus_core.microtape.params import MicroTapeParams

BPS = 1e4
DEPTH_LEVELS = 5
"""Levels of the top-of-book depth: book_imb_5, depth_5_bid / _ask, depth_5_rel."""
DEEP_LEVELS = 10
"""Levels of the slow frames' deep book: book_imb_10, depth_slope."""
BOOK_SOURCE, BBO_SOURCE = 0, 1
"""A quote's `source`: at one receive and venue time a bbo comes after an l2Book quote."""


def imbalance(bid: np.ndarray, ask: np.ndarray) -> np.ndarray:
    """(bid - ask) / (bid + ask); 0 for an empty book, NaN where unknown."""
    return safe_ratio(bid - ask, bid + ask, when_zero=0.0)


def imbalance_of(bid: float, ask: float) -> float:
    """`imbalance` of one frame."""
    den = bid + ask
    return 0.0 if den == 0 else (bid - ask) / den


def quote_stream(inp: CoinInputs) -> dict[str, np.ndarray]:
    """Two-sided top-of-book quotes from l2Book and bbo, merged in receive order.

    Ties on recv_ts_ms are broken by venue time, then bbo after l2Book, so the merge is
    deterministic; the venue clock only orders quotes already known, it never admits one.
    `source` is BOOK_SOURCE for an l2Book quote, BBO_SOURCE for a bbo (the streaming tape
    breaks ties with it).
    """
    b, q = inp.books, inp.bbo
    book_ok = (b.n_bid > 0) & (b.n_ask > 0)
    bbo_ok = ~(np.isnan(q["bid_px"]) | np.isnan(q["ask_px"]))
    parts = {
        "recv": (b.recv[book_ok], q["recv"][bbo_ok]),
        "time": (b.time[book_ok], q["time"][bbo_ok]),
        "bid_px": (b.bid_px[book_ok, 0], q["bid_px"][bbo_ok]),
        "bid_sz": (b.bid_sz[book_ok, 0], q["bid_sz"][bbo_ok]),
        "ask_px": (b.ask_px[book_ok, 0], q["ask_px"][bbo_ok]),
        "ask_sz": (b.ask_sz[book_ok, 0], q["ask_sz"][bbo_ok]),
    }
    merged = {k: np.concatenate(v) for k, v in parts.items()}
    source = np.concatenate([np.full(book_ok.sum(), BOOK_SOURCE, np.int8),
                             np.full(bbo_ok.sum(), BBO_SOURCE, np.int8)])
    merged["source"] = source
    order = np.lexsort((source, merged["time"], merged["recv"]))
    return {k: v[order] for k, v in merged.items()}


def dpx_bps(mid: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """Mid change from the previous grid time's, in bps of it."""
    return (mid - prev) / prev * BPS


def top_features(quotes: dict[str, np.ndarray], grid: np.ndarray) -> dict[str, np.ndarray]:
    """bid/ask/mid/micro, spread, mid change, micro drift and the quote's age on the grid."""
    i = asof(quotes["recv"], grid)
    bid, ask = take(quotes["bid_px"], i), take(quotes["ask_px"], i)
    bsz = np.nan_to_num(take(quotes["bid_sz"], i))
    asz = np.nan_to_num(take(quotes["ask_sz"], i))
    mid = 0.5 * (bid + ask)
    micro = np.where(bsz + asz > 0, safe_ratio(bid * asz + ask * bsz, bsz + asz), mid)
    dpx = np.full(len(grid), np.nan)
    dpx[1:] = dpx_bps(mid[1:], mid[:-1])
    stale = grid - quotes["recv"][np.maximum(i, 0)]
    return {
        "bid_px": bid,
        "ask_px": ask,
        "mid_px": mid,
        "micro_px": micro,
        "spread_bps": (ask - bid) / mid * BPS,
        "dpx_bps": dpx,
        "microprice_drift_bps": (micro - mid) / mid * BPS,
        "stale_ms": stale.astype(np.int64),
    }


def top_of(bid: float, bid_sz: float, ask: float, ask_sz: float) -> tuple[float, ...]:
    """`top_features` of one two-sided quote: bid, ask, mid, micro, spread, drift."""
    bid_sz, ask_sz = nan_to_num_of(bid_sz), nan_to_num_of(ask_sz)
    mid = 0.5 * (bid + ask)
    den = bid_sz + ask_sz
    micro = div_of(bid * ask_sz + ask * bid_sz, den) if den > 0 else mid
    return bid, ask, mid, micro, div_of(ask - bid, mid) * BPS, div_of(micro - mid, mid) * BPS


def depth_slope(books: Books) -> np.ndarray:
    """Size in the top 10 levels of both sides per bps of book width (frame by frame).

    width = distance from the frame's mid to its 10th (or deepest) bid plus the same for
    the ask, in bps of mid. NaN for a one-sided frame or a zero width.
    """
    n = len(books)
    rows = np.arange(n)
    lb = np.clip(np.minimum(books.n_bid, DEEP_LEVELS) - 1, 0, None)
    la = np.clip(np.minimum(books.n_ask, DEEP_LEVELS) - 1, 0, None)
    if n == 0:
        return np.empty(0)
    mid = 0.5 * (books.bid_px[:, 0] + books.ask_px[:, 0])
    width = (books.ask_px[rows, la] - books.bid_px[rows, lb]) / mid * BPS
    size = sum(books.depth(DEEP_LEVELS))
    out = safe_ratio(size, width)
    out[(books.n_bid == 0) | (books.n_ask == 0)] = np.nan
    return out


def slope_of(bid_px: list[float], ask_px: list[float], n_bid: int, n_ask: int,
             cum_bid: list[float], cum_ask: list[float]) -> float:
    """`depth_slope` of one frame (`cum_*`: its running sizes, `inputs.cumulative_of`)."""
    if n_bid == 0 or n_ask == 0:
        return NAN
    mid = 0.5 * (bid_px[0] + ask_px[0])
    width = div_of(ask_px[max(min(n_ask, DEEP_LEVELS) - 1, 0)]
                   - bid_px[max(min(n_bid, DEEP_LEVELS) - 1, 0)], mid) * BPS
    size = 0 + depth_of(cum_bid, DEEP_LEVELS) + depth_of(cum_ask, DEEP_LEVELS)  # sum(depth)
    return NAN if width == 0 else div_of(size, width)


def depth_rel_window(params: MicroTapeParams) -> tuple[int, int]:
    """(points, min_periods) of the trailing median of top-5 depth (`depth_5_rel`)."""
    return params.points(params.depth_rel_window_ms), params.points(params.depth_rel_min_ms)


def depth_features(
    books: Books, grid: np.ndarray, params: MicroTapeParams
) -> dict[str, np.ndarray]:
    """Imbalances, top-5 depth, slope and the depth-vacuum ratio on the grid."""
    i_any = asof(books.recv, grid)
    slow = ~books.fast
    i_slow = asof(books.recv[slow], grid)
    b1, a1 = books.depth(1)
    b5, a5 = books.depth(DEPTH_LEVELS)
    b10, a10 = (side[slow] for side in books.depth(DEEP_LEVELS))
    d5b, d5a = take(b5, i_any), take(a5, i_any)
    d5 = d5b + d5a
    med = rolling_median(d5, *depth_rel_window(params))
    return {
        "book_imb_1": take(imbalance(b1, a1), i_any),
        "book_imb_5": take(imbalance(b5, a5), i_any),
        "book_imb_10": take(imbalance(b10, a10), i_slow),
        "depth_5_bid": d5b,
        "depth_5_ask": d5a,
        "depth_slope": take(depth_slope(books)[slow], i_slow),
        "depth_5_rel": safe_ratio(d5, med),  # NaN where the median is 0 (the step's too)
    }
