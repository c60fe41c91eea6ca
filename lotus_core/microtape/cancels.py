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

One definition for both paths: each batch function has its one-pair form beside it
(`price_ticks`, `_removed_of`, `pair_removals_of`, `pair_rate`), and `CancelPairs` carries
the pairs of one stream for the live tape (lotus_core.microtape.build.TapeStream): the
state `pair_cancel_rates` and `cancel_rate` read, a frame or a trade at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lotus_core.microtape.grid import TRIM, asof, asof_stop, before_stop, bin_sum, interval_index
from lotus_core.microtape.inputs import Books
from lotus_core.microtape.params import MicroTapeParams

_MAX_KEY = 2**62
TICK = 1e8
"""Price keys are prices on this integer grid (8 decimals: finer than any listed price)."""
_MAX_PRICE = 4.6e10
"""|price| from which a one-frame key is the price itself (just under _MAX_KEY / TICK)."""

def price_keys(px: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense integer keys for exact price matching: (keys, span), NaN -> -1.

    Prices are put on an 8-decimal integer grid (finer than any Hyperliquid price), shifted
    to start at 0 and divided by the common step, so BTC's $1 ticks over a day span a few
    thousand keys. Falls back to ranks among the distinct prices for absurd magnitudes.
    """
    ok = ~np.isnan(px)
    if not ok.any():
        return np.full(px.shape, -1, dtype=np.int64), 1
    if np.nanmax(np.abs(px)) * TICK < _MAX_KEY:
        q = np.rint(np.where(ok, px, 0.0) * TICK).astype(np.int64)
        q -= q[ok].min()
        step = int(np.gcd.reduce(q[ok])) or 1
        q //= step
    else:  # pragma: no cover - no listed asset is priced anywhere near 1e10
        uniq = np.unique(px[ok])
        q = np.searchsorted(uniq, np.where(ok, px, uniq[0])).astype(np.int64)
    q[~ok] = -1
    return q, int(q.max()) + 1


def price_ticks(px: list[float]) -> list[float | None]:
    """`price_keys` of one frame's side, for exact matching within a pair: prices in ticks
    (NaN: None); beyond `_MAX_PRICE` (no listed asset) the batch matches prices
    themselves, as here."""
    return [round(x * TICK) if abs(x) < _MAX_PRICE else (x if x == x else None) for x in px]


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


def np_sum_of(values: list[float]) -> float:
    """numpy's float64 sum of a row, bit for bit: pairwise, 8 accumulators a block."""
    n = len(values)
    if n < 8:
        total = 0.0
        for x in values:
            total += x
        return total
    if n > 128:
        half = n // 2
        half -= half % 8
        return np_sum_of(values[:half]) + np_sum_of(values[half:])
    r = values[:8]
    i, stop = 8, n - n % 8
    while i < stop:
        for j in range(8):
            r[j] += values[i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for x in values[i:]:
        total += x
    return total


def _removed_of(p_px: list[float], p_sz: list[float], p_keys: list[float | None],
                c_px: list[float], c_sz: list[float], c_keys: list[float | None], c_n: int,
                levels: int, is_bid: bool) -> tuple[float, float]:
    """`_removed` of one pair of frames and one side over `levels` columns."""
    # C's size at each price (a repeated price: its first level, as the batch's stable sort)
    now = dict(zip(reversed(c_keys[:levels]), reversed(c_sz[:levels]), strict=True))
    edge = c_px[c_n - 1] if c_n > 0 else float("nan")  # C's deepest price on the side
    terms = []
    for j in range(levels):
        x = p_px[j]
        if x >= edge if is_bid else x <= edge:
            d = p_sz[j] - now.get(p_keys[j], 0.0)
            terms.append(d if d >= 0.0 or d != d else 0.0)  # np.maximum(d, 0.0)
        else:
            terms.append(0.0)
    return np_sum_of(terms), np_sum_of([z if z == z else 0.0 for z in p_sz[:levels]])


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


Frame = tuple[list[float], list[float], list[float], list[float], int, int,
              list[float | None], list[float | None]]
"""One l2Book frame for `pair_removals_of`: bid_px, bid_sz, ask_px, ask_sz (best level
first), n_bid, n_ask, and the bid and ask price keys (`price_ticks`: computed once, a frame
is C of one pair and P of the next)."""


def frame_of(bid_px: list[float], bid_sz: list[float], ask_px: list[float],
             ask_sz: list[float], n_bid: int, n_ask: int) -> Frame:
    return bid_px, bid_sz, ask_px, ask_sz, n_bid, n_ask, price_ticks(bid_px), price_ticks(ask_px)


def pair_removals_of(p: Frame, c: Frame, levels: int) -> tuple[float, float, float]:
    """`pair_removals` of one pair P -> C: size removed from the bid and from the ask, P's
    visible size."""
    rm_bid, d_bid = _removed_of(p[0], p[1], p[6], c[0], c[1], c[6], c[4], levels, True)
    rm_ask, d_ask = _removed_of(p[2], p[3], p[7], c[2], c[3], c[7], c[5], levels, False)
    return rm_bid, rm_ask, d_bid + d_ask


def pair_rate(
    rm_bid: float, rm_ask: float, hit_bid: float, lift_ask: float, depth: float, eps: float
) -> float:
    """One pair's cancel rate: `pair_cancel_rates`' arithmetic on Python floats (the live
    tape's form, `CancelPairs`)."""
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
    live = fast_live(i >= 0, age, params.cancel_fast_max_age_ms)
    return np.where(live, out["fast"], out["slow"])


def fast_live(known: np.ndarray, age: np.ndarray, max_age_ms: int) -> np.ndarray:
    """Whether the fast stream is in use at each grid time: it has a frame, at most
    `cancel_fast_max_age_ms` old (the step's per-row form: TapeStream's `_book_rows`)."""
    return known & (age <= max_age_ms)


class CancelPairs:
    """One l2Book stream (fast or slow) of one coin in the live tape: its consecutive frame
    pairs, each with the size removed on either side, P's visible size and the volume
    traded into it (`pair_cancel_rates`, a frame and a trade at a time).

    Not bit for bit: the row sums run over the stream's widest frame so far, where the
    batch uses the widest of the whole day (`pair_removals`); the two differ only if a wider
    frame comes later, and then in the last bits of a pair's removed size."""

    __slots__ = ("last", "last_recv", "levels", "r0", "r1", "rm_bid", "rm_ask", "depth",
                 "hit", "lift", "pend_hit", "pend_lift", "k")

    def __init__(self) -> None:
        self.last: Frame | None = None  # the stream's last frame
        self.last_recv: int | None = None
        self.levels = 1  # widest frame so far (pair_removals' columns)
        self.r0: list[int] = []
        self.r1: list[int] = []
        self.rm_bid: list[float] = []
        self.rm_ask: list[float] = []
        self.depth: list[float] = []
        self.hit: list[float] = []
        self.lift: list[float] = []
        self.pend_hit = self.pend_lift = 0.0  # trades after the last frame: the next pair's
        self.k = 0  # first pair not yet read by a row

    def extend(self, recv: list[int], rm_bid: list[float], rm_ask: list[float],
               depth: list[float]) -> None:
        """The pairs of consecutive frames received at `recv` (the first is the carried
        last frame when there is one)."""
        n = len(recv) - 1
        self.r0 += recv[:-1]
        self.r1 += recv[1:]
        self.rm_bid += rm_bid
        self.rm_ask += rm_ask
        self.depth += depth
        self.hit.append(self.pend_hit)
        self.lift.append(self.pend_lift)
        self.hit += [0.0] * (n - 1)
        self.lift += [0.0] * (n - 1)
        self.pend_hit = self.pend_lift = 0.0

    def add_frames(self, frames: list[tuple[int, Frame]]) -> None:
        """A batch's new frames (receive time, frame) of the stream, pair by pair on Python
        floats (`add_pairs` for many frames)."""
        self.levels = max(self.levels, *(max(f[4], f[5]) for _, f in frames))
        last, recv = self.last, [] if self.last_recv is None else [self.last_recv]
        rm_bid, rm_ask, depth = [], [], []
        for r, frame in frames:
            if last is not None:
                b, a, d = pair_removals_of(last, frame, self.levels)
                rm_bid.append(b)
                rm_ask.append(a)
                depth.append(d)
            recv.append(r)
            last = frame
        if rm_bid:
            self.extend(recv, rm_bid, rm_ask, depth)
        self.last, self.last_recv = last, recv[-1]

    def add_trade(self, recv: int, side: int, sz: float) -> None:
        """Into the first pair ending at or after it (`pair_cancel_rates`' searchsorted
        side="left"), if it came after that pair's first frame; else (no such pair yet) into
        the next pair, if after the last frame."""
        r1 = self.r1
        j = before_stop(r1, recv, self.k)
        if j < len(r1):
            if recv > self.r0[j]:
                if side < 0:
                    self.hit[j] += sz
                elif side > 0:
                    self.lift[j] += sz
        elif self.last_recv is not None and recv > self.last_recv:
            if side < 0:
                self.pend_hit += sz
            elif side > 0:
                self.pend_lift += sz

    def rate(self, t: int, cadence: int, eps: float, wanted: bool) -> float:
        """Sum of the rates of the pairs completed in (t - cadence, t] (0.0 unless wanted);
        moves past them."""
        r1 = self.r1
        start = asof_stop(r1, t - cadence, self.k)
        k = asof_stop(r1, t, start)
        total = 0.0
        if wanted:
            for i in range(start, k):
                total += pair_rate(self.rm_bid[i], self.rm_ask[i], self.hit[i], self.lift[i],
                                   self.depth[i], eps)
        self._moved(k)
        return total

    def rates(self, t0: int, wanted: list[bool], cadence: int, eps: float) -> list[float]:
        """`rate` at each of the len(wanted) grid times from t0 on."""
        r1 = self.r1
        start = asof_stop(r1, t0 - cadence, self.k)  # before the run: never read
        k = asof_stop(r1, t0 + (len(wanted) - 1) * cadence, start)
        out = [0.0] * len(wanted)
        for j in range(start, k):
            i = -((t0 - r1[j]) // cadence)  # grid.interval_of: the row it completed in
            if wanted[i]:
                out[i] += pair_rate(self.rm_bid[j], self.rm_ask[j], self.hit[j], self.lift[j],
                                    self.depth[j], eps)
        self._moved(k)
        return out

    def _moved(self, k: int) -> None:
        if k > TRIM:
            for name in ("r0", "r1", "rm_bid", "rm_ask", "depth", "hit", "lift"):
                del getattr(self, name)[:k]
            k = 0
        self.k = k


def add_pairs(books: Books, blocks: list[tuple[CancelPairs, list[int]]]) -> None:
    """New cancel pairs of one stream: each block is a coin's `CancelPairs` and the
    positions of its new frames in `books`; blocks of equal width share one `pair_removals`
    call."""
    nb, na = books.n_bid.tolist(), books.n_ask.tolist()
    groups: dict[int, list[tuple[CancelPairs, list[int]]]] = {}
    for pr, pos in blocks:
        pr.levels = max(pr.levels, max(nb[i] for i in pos), max(na[i] for i in pos))
        groups.setdefault(pr.levels, []).append((pr, pos))
    n = len(books)
    recv = books.recv.tolist()
    for levels, members in groups.items():
        carried = [pr.last for pr, _ in members if pr.last is not None]
        mats: list[Any] = [books.bid_px, books.bid_sz, books.ask_px, books.ask_sz,
                           books.n_bid, books.n_ask]
        if carried:
            mats = [np.concatenate([m, np.array([c[j] for c in carried], dtype=m.dtype)])
                    for j, m in enumerate(mats)]
        seq: list[int] = []
        starts = []
        c = n
        for pr, pos in members:
            starts.append(len(seq))
            if pr.last is not None:
                seq.append(c)
                c += 1
            seq += pos
        starts.append(len(seq))
        idx = np.asarray(seq)
        bid_px, bid_sz, ask_px, ask_sz = (m[idx, :levels] for m in mats[:4])
        rm_bid, rm_ask, depth = pair_removals(bid_px, bid_sz, ask_px, ask_sz, mats[4][idx],
                                              mats[5][idx])
        rm_bid_l, rm_ask_l, depth_l = rm_bid.tolist(), rm_ask.tolist(), depth.tolist()
        for (pr, pos), a, b in zip(members, starts, starts[1:], strict=False):
            r = ([pr.last_recv] if pr.last is not None else []) + [recv[i] for i in pos]
            if b - a > 1:
                pr.extend(r, rm_bid_l[a:b - 1], rm_ask_l[a:b - 1], depth_l[a:b - 1])
            last = pos[-1]
            pr.last = frame_of(mats[0][last].tolist(), mats[1][last].tolist(),
                               mats[2][last].tolist(), mats[3][last].tolist(),
                               int(mats[4][last]), int(mats[5][last]))
            pr.last_recv = recv[last]
