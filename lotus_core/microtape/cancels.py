"""Cancel rate: book size that disappeared without trading, per unit of visible depth.

Between two consecutive snapshots P -> C of the same stream (fast with fast, slow with slow)
levels are matched by exact price. On each side the size removed is

    removed = sum over P's levels whose price is still inside C's visible range of
              max(0, size in P - size at that price in C)        (0 if the price is gone)

where "inside" means at or better than C's deepest level on that side (a level that merely
scrolled out of view is not counted). Trades received in (recv_P, recv_C] consume size:
sell aggressors hit bids, buy aggressors lift asks, so

    cancelled_side = max(0, removed_side - traded volume on that side)
    rate(P -> C)   = (cancelled_bid + cancelled_ask) / (total visible size of P)

and `cancel_rate` at grid time t sums the rates of the pairs whose C arrived in
(t - cadence, t]. Prices are matched vectorised: every price becomes an integer tick key,
offset per pair as pair_index * span + key, and one `np.searchsorted` looks all of P's
levels up in C's sorted keys.
"""

from __future__ import annotations

import numpy as np

from lotus_core.microtape.grid import asof, bin_sum, interval_index
from lotus_core.microtape.inputs import Books
from lotus_core.microtape.params import MicroTapeParams

_MAX_KEY = 2**62


def price_keys(px: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense integer keys for exact price matching: (keys, span), NaN -> -1.

    Prices are put on an 8-decimal integer grid (finer than any Hyperliquid price), shifted
    to start at 0 and divided by the common step, so BTC's $1 ticks over a day span a few
    thousand keys. Falls back to ranks among the distinct prices for absurd magnitudes.
    """
    ok = ~np.isnan(px)
    if not ok.any():
        return np.full(px.shape, -1, dtype=np.int64), 1
    if np.nanmax(np.abs(px)) * 1e8 < _MAX_KEY:
        q = np.rint(np.where(ok, px, 0.0) * 1e8).astype(np.int64)
        q -= q[ok].min()
        step = int(np.gcd.reduce(q[ok])) or 1
        q //= step
    else:  # pragma: no cover - no listed asset is priced anywhere near 1e10
        uniq = np.unique(px[ok])
        q = np.searchsorted(uniq, np.where(ok, px, uniq[0])).astype(np.int64)
    q[~ok] = -1
    return q, int(q.max()) + 1


def _removed(
    key: np.ndarray,
    span: int,
    px: np.ndarray,
    sz: np.ndarray,
    n_lev: np.ndarray,
    is_bid: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Per consecutive pair (row p -> row p+1): size removed from one side inside the
    current frame's visible range, and the previous frame's visible size on that side."""
    m = len(key) - 1
    base = np.arange(m, dtype=np.int64)[:, None] * np.int64(span)
    c_ok = key[1:] >= 0
    c_key = (base + key[1:])[c_ok]
    c_val = sz[1:][c_ok]
    order = np.argsort(c_key, kind="stable")
    c_key, c_val = c_key[order], c_val[order]
    p_key = np.where(key[:-1] >= 0, base + key[:-1], -1)
    p_sz = sz[:-1]
    if len(c_key):
        pos = np.minimum(np.searchsorted(c_key, p_key), len(c_key) - 1)
        now = np.where(c_key[pos] == p_key, c_val[pos], 0.0)
    else:
        now = np.zeros_like(p_sz)
    deepest = np.clip(n_lev[1:] - 1, 0, None)
    edge = px[1:][np.arange(m), deepest]
    edge[n_lev[1:] == 0] = np.nan
    p_px = px[:-1]
    with np.errstate(invalid="ignore"):
        inside = p_px >= edge[:, None] if is_bid else p_px <= edge[:, None]
    removed = np.where(inside, np.maximum(p_sz - now, 0.0), 0.0).sum(axis=1)
    return removed, np.nansum(p_sz, axis=1)


def pair_removals(
    bid_px: np.ndarray, bid_sz: np.ndarray, ask_px: np.ndarray, ask_sz: np.ndarray,
    n_bid: np.ndarray, n_ask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per consecutive pair of one stream's frames ((n, levels) matrices): size removed from
    the bid and from the ask, and P's total visible size. The row sums run over `levels`
    columns, so their last bits depend on it (the batch passes the stream's widest frame)."""
    levels = bid_px.shape[1]
    keys, span = price_keys(np.concatenate([bid_px, ask_px], axis=1))
    if (len(bid_px) - 1) * span >= _MAX_KEY:  # pragma: no cover - needs ~1e12 ticks per day
        raise ValueError("price range too wide for integer price keys")
    rm_bid, d_bid = _removed(keys[:, :levels], span, bid_px, bid_sz, n_bid, True)
    rm_ask, d_ask = _removed(keys[:, levels:], span, ask_px, ask_sz, n_ask, False)
    return rm_bid, rm_ask, d_bid + d_ask


def pair_rate(
    rm_bid: float, rm_ask: float, hit_bid: float, lift_ask: float, depth: float, eps: float
) -> float:
    """One pair's cancel rate: `pair_cancel_rates`' arithmetic on Python floats (the
    streaming tape's form, lotus_core.microtape.stream)."""
    c_bid = rm_bid - hit_bid
    c_bid = c_bid if c_bid > 0.0 or c_bid != c_bid else 0.0
    c_ask = rm_ask - lift_ask
    c_ask = c_ask if c_ask > 0.0 or c_ask != c_ask else 0.0
    noise = eps * depth
    if c_bid <= noise:
        c_bid = 0.0
    if c_ask <= noise:
        c_ask = 0.0
    return (c_bid + c_ask) / depth if depth > 0 else 0.0


def pair_cancel_rates(
    books: Books, stream: np.ndarray, trades: dict[str, np.ndarray], eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """(receive time of C, cancel rate) for every consecutive pair of the frames in `stream`."""
    idx = np.flatnonzero(stream)
    if len(idx) < 2:
        return np.empty(0, np.int64), np.empty(0)
    levels = int(max(books.n_bid[idx].max(), books.n_ask[idx].max(), 1))
    rm_bid, rm_ask, depth = pair_removals(
        books.bid_px[idx, :levels], books.bid_sz[idx, :levels], books.ask_px[idx, :levels],
        books.ask_sz[idx, :levels], books.n_bid[idx], books.n_ask[idx])

    recv = books.recv[idx]
    r0, r1 = recv[:-1], recv[1:]
    m = len(r1)
    j = np.searchsorted(r1, trades["recv"], side="left")
    inside = j < m
    inside[inside] &= trades["recv"][inside] > r0[j[inside]]
    pair = np.where(inside, j, -1)
    sells = np.where(trades["side"] < 0, trades["sz"], 0.0)
    buys = np.where(trades["side"] > 0, trades["sz"], 0.0)
    hit_bid = bin_sum(pair, sells, m)
    lift_ask = bin_sum(pair, buys, m)

    c_bid = np.maximum(rm_bid - hit_bid, 0.0)
    c_ask = np.maximum(rm_ask - lift_ask, 0.0)
    noise = eps * depth
    c_bid[c_bid <= noise] = 0.0
    c_ask[c_ask <= noise] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(depth > 0, (c_bid + c_ask) / depth, 0.0)
    return r1, rate


def cancel_rate(
    books: Books, trades: dict[str, np.ndarray], grid: np.ndarray, params: MicroTapeParams
) -> np.ndarray:
    """Per-interval cancel rate from the fast stream while it is live, else the slow one."""
    n = len(grid)
    out = {}
    for name, stream in (("fast", books.fast), ("slow", ~books.fast)):
        r1, rate = pair_cancel_rates(books, stream, trades, params.cancel_eps)
        out[name] = bin_sum(interval_index(r1, grid, params.cadence_ms), rate, n)
    fast_recv = books.recv[books.fast]
    i = asof(fast_recv, grid)
    age = grid - fast_recv[np.maximum(i, 0)] if len(fast_recv) else np.zeros(n, np.int64)
    live = (i >= 0) & (age <= params.cancel_fast_max_age_ms)
    return np.where(live, out["fast"], out["slow"])
