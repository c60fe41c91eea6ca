"""The order book as queues built from order flow: a queue-reactive model.

Each side is a ladder of queues one grid step apart, best first. The two best queues
receive limit orders, cancellations (per resting order) and market orders as competing
Poisson clocks whose intensities depend on the book's state (queue-reactive, after Huang,
Lehalle and Rosenbaum; the best-queue price dynamics are those of Cont and de Larrard):
market orders come faster at a short queue and lean towards the side the top-5 depth is
heavy on. The mid moves only when a best queue is depleted (by trades or cancels: the side
steps back one grid step and the next queue becomes the best) or when a limit order
improves an open spread. Deeper queues are refilled and cancelled in half-second batches.

The simulation runs in continuous time (Gillespie). Every draw comes from this hour's
streams, and it records the book on the venue's publishing schedule (blocks, fast and slow
l2Book snapshots, asset contexts) and every fill. Prices are integer ticks, sizes lots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lotus_core.synth.book import Levels
from lotus_core.synth.coins import CoinProfile

LEVELS = 30  # queues kept per side
GRID_BPS = 0.5  # grid step between queues, in bps of the price (>= 1 tick)
NBAR_BEST = 3.0  # mean orders per queue next to the touch
NBAR_SLOPE = 0.5  # ... growing by this many orders per grid step away
LAM_LIMIT = 1.2  # /s, limit orders joining each best queue
LAM_CANCEL = 0.3  # /s per order resting at a best queue
LAM_MARKET = 0.8  # /s per side at a reference queue and a balanced book
LAM_INSIDE = 2.0  # /s per side, limit orders improving an open spread
IOTA = 0.6  # market orders lean towards the heavy side: rate * exp(+-IOTA * imbalance)
SHORT_QUEUE = 1.5  # market orders at a short queue: rate * (1 + S) / (1 + S * q / q_ref)
DEEP_CANCEL = 0.08  # /s per order beyond the best (deep arrivals keep the mean profile)
DEEP_EVERY_MS = 500
LIMIT_SD = 0.8  # lognormal sd of limit order sizes
MARKET_SD = 1.0
MARKET_MULT = 1.2  # mean market order / mean limit order
MAX_WALK = 3  # a market order eats at most this many queues
BLOCK_MS = 100
BUFFER = 4096

BLOCK, FAST, SLOW, CTX, DEEP, END = 0, 1, 2, 3, 4, 5
"""Kinds of scheduled instants; at equal times they run in this order."""
DEPTH = {FAST: 5, SLOW: 20, CTX: 20}


@dataclass(frozen=True)
class FlowParams:
    """One coin's book geometry and order sizes."""

    grid: int  # ticks per grid step
    limit_lots: float  # mean limit order
    market_lots: float  # mean market order

    @staticmethod
    def for_coin(profile: CoinProfile, open_px: float, tick: float) -> FlowParams:
        grid = max(1, round(GRID_BPS * 1e-4 * open_px / tick))
        lot = 10.0 ** -profile.sz_decimals
        limit = max(1.0, profile.touch_notional / (NBAR_BEST * open_px * lot))
        return FlowParams(grid, limit, MARKET_MULT * limit)


def mean_orders() -> np.ndarray:
    """Mean resting orders of queues 1.. (beyond the best) in steady state."""
    return NBAR_BEST + NBAR_SLOPE * np.arange(1, LEVELS)


class Book:
    """The two ladders: the best queues as ints, the deeper ones as arrays (level 1 first).

    A deeper queue never empties (its last order stays), so level i sits exactly i grid
    steps from its best.
    """

    def __init__(self, params: FlowParams, mid_ticks: float) -> None:
        g = params.grid
        self.params = params
        self.bid = int(math.floor(mid_ticks / g)) * g
        self.ask = self.bid + g
        nbar = mean_orders()
        n = np.maximum(1, np.rint(nbar)).astype(np.int64)
        lots = np.maximum(n, np.rint(nbar * params.limit_lots)).astype(np.int64)
        self.b_n, self.a_n = n.copy(), n.copy()
        self.b_lots, self.a_lots = lots.copy(), lots.copy()
        self.bl0 = self.al0 = int(max(1, round(NBAR_BEST * params.limit_lots)))
        self.bn0 = self.an0 = int(round(NBAR_BEST))
        self.far_n = int(n[-1])
        self.far_lots = int(lots[-1])
        self.b4 = self.a4 = 0
        self.cache()

    def cache(self) -> None:
        self.b4 = int(self.b_lots[:4].sum())
        self.a4 = int(self.a_lots[:4].sum())

    def levels(self, depth: int) -> tuple[list[int], list[int], list[int], list[int]]:
        """Lots and counts of the first `depth` queues: bids, bid counts, asks, ask counts."""
        k = depth - 1
        return ([self.bl0] + self.b_lots[:k].tolist(), [self.bn0] + self.b_n[:k].tolist(),
                [self.al0] + self.a_lots[:k].tolist(), [self.an0] + self.a_n[:k].tolist())

    # --- queue moves ---------------------------------------------------------------------

    def bid_depleted(self) -> None:
        self.bl0, self.bn0 = int(self.b_lots[0]), int(self.b_n[0])
        self.b_lots[:-1], self.b_n[:-1] = self.b_lots[1:], self.b_n[1:]
        self.b_lots[-1], self.b_n[-1] = self.far_lots, self.far_n
        self.bid -= self.params.grid
        self.b4 = int(self.b_lots[:4].sum())

    def ask_depleted(self) -> None:
        self.al0, self.an0 = int(self.a_lots[0]), int(self.a_n[0])
        self.a_lots[:-1], self.a_n[:-1] = self.a_lots[1:], self.a_n[1:]
        self.a_lots[-1], self.a_n[-1] = self.far_lots, self.far_n
        self.ask += self.params.grid
        self.a4 = int(self.a_lots[:4].sum())

    def bid_improves(self, lots: int) -> None:
        self.b_lots[1:], self.b_n[1:] = self.b_lots[:-1].copy(), self.b_n[:-1].copy()
        self.b_lots[0], self.b_n[0] = self.bl0, self.bn0
        self.bl0, self.bn0 = lots, 1
        self.bid += self.params.grid
        self.b4 = int(self.b_lots[:4].sum())

    def ask_improves(self, lots: int) -> None:
        self.a_lots[1:], self.a_n[1:] = self.a_lots[:-1].copy(), self.a_n[:-1].copy()
        self.a_lots[0], self.a_n[0] = self.al0, self.an0
        self.al0, self.an0 = lots, 1
        self.ask -= self.params.grid
        self.a4 = int(self.a_lots[:4].sum())

    def deep_batch(self, rng: np.random.Generator, dt_s: float) -> None:
        """Arrivals and cancels of the deeper queues over `dt_s` seconds."""
        nbar = mean_orders()
        p_cancel = 1.0 - math.exp(-DEEP_CANCEL * dt_s)
        arrive = rng.poisson(DEEP_CANCEL * dt_s * nbar, size=(2, LEVELS - 1))
        p_geo = 1.0 / max(1.0, self.params.limit_lots)
        extra = rng.negative_binomial(np.maximum(arrive, 1), p_geo)
        add = np.where(arrive > 0, extra + arrive, 0)
        for side, (lots, n) in enumerate(((self.b_lots, self.b_n), (self.a_lots, self.a_n))):
            gone = rng.binomial(n, p_cancel)
            removed = (lots * gone) // np.maximum(n, 1)
            n += arrive[side] - gone
            lots += add[side] - removed
            np.maximum(n, 1, out=n)
            np.maximum(lots, n, out=lots)
        self.cache()


@dataclass
class Fills:
    """Every fill of an hour: event time (ms), aggressor side (+1 buy), price, lots."""

    t_ms: np.ndarray
    side: np.ndarray
    px: np.ndarray
    lots: np.ndarray


@dataclass
class HourFlow:
    """What the venue publishes of one hour, before any planted move.

    `top[b]` is the book after block b: bid px, lots, n, ask px, lots, n. `books[kind]` are
    the snapshots at the fast, slow and context instants.
    """

    top: np.ndarray
    books: dict[int, tuple[Levels, Levels]]
    fills: Fills


class _Draws:
    """Buffered draws of one stream (refilled in fixed-size chunks: deterministic)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.i = BUFFER
        self.exp: list[float] = []
        self.u: list[float] = []
        self.z: list[float] = []

    def next(self) -> tuple[float, float, float]:
        if self.i == BUFFER:
            self.exp = self.rng.standard_exponential(BUFFER).tolist()
            self.u = self.rng.random(BUFFER).tolist()
            self.z = self.rng.standard_normal(BUFFER).tolist()
            self.i = 0
        i = self.i
        self.i += 1
        return self.exp[i], self.u[i], self.z[i]


def schedule(t0_ms: int, t1_ms: int, samples: dict[int, np.ndarray]
             ) -> tuple[list[int], list[int]]:
    """All scheduled instants in order: the given samples, the block ends in (t0, t1] (both
    multiples of BLOCK_MS), the deep batches in [t0, t1), then END at t1."""
    blocks = np.arange(t0_ms // BLOCK_MS + 1, t1_ms // BLOCK_MS + 1) * BLOCK_MS
    deep = np.arange(-(-t0_ms // DEEP_EVERY_MS), -(-t1_ms // DEEP_EVERY_MS)) * DEEP_EVERY_MS
    parts = [(blocks, BLOCK), (deep, DEEP)]
    parts += [(np.asarray(v, dtype=np.int64), k) for k, v in samples.items()]
    times = np.concatenate([p[0] for p in parts] + [np.array([t1_ms])])
    kinds = np.concatenate([np.full(len(p[0]), p[1]) for p in parts] + [np.array([END])])
    order = np.lexsort((kinds, times))
    return times[order].tolist(), kinds[order].tolist()


def simulate(book: Book, t0_ms: int, t1_ms: int, flow: np.random.Generator,
             deep: np.random.Generator, samples: dict[int, np.ndarray]) -> HourFlow:
    """Run the flow over [t0_ms, t1_ms) from `book` (mutated to the state at t1_ms).

    `samples[kind]` are the instants (ms) where a snapshot of `DEPTH[kind]` levels is
    taken; block k's top is recorded at the block's end. Between scheduled instants the
    next event competes with the next instant; when the instant comes first the draw is
    discarded (memoryless clocks), so intensities always use the current book.
    """
    p = book.params
    g = p.grid
    times, kinds = schedule(t0_ms, t1_ms, samples)
    draws = _Draws(flow)
    n_blocks = len([k for k in kinds if k == BLOCK])
    top = np.zeros((n_blocks, 6), dtype=np.int64)
    rows = {k: [0] for k in samples}
    out = {k: [np.zeros((len(v), DEPTH[k]), dtype=np.int64) for _ in range(6)]
           for k, v in samples.items()}
    f_t: list[float] = []
    f_side: list[int] = []
    f_px: list[int] = []
    f_lots: list[int] = []
    q_ref = NBAR_BEST * p.limit_lots
    lsd, msd = LIMIT_SD, MARKET_SD
    l_mu = math.log(p.limit_lots) - lsd * lsd / 2
    m_mu = math.log(p.market_lots) - msd * msd / 2
    t = float(t0_ms)
    last_deep = float(t0_ms)
    block = 0
    j = 0
    while True:
        b5, a5 = book.bl0 + book.b4, book.al0 + book.a4
        imb = (b5 - a5) / (b5 + a5)
        lean = math.exp(IOTA * imb)
        r_sell = LAM_MARKET * (1 + SHORT_QUEUE) / (1 + SHORT_QUEUE * book.bl0 / q_ref) / lean
        r_buy = LAM_MARKET * (1 + SHORT_QUEUE) / (1 + SHORT_QUEUE * book.al0 / q_ref) * lean
        r_cb, r_ca = LAM_CANCEL * book.bn0, LAM_CANCEL * book.an0
        r_in = LAM_INSIDE if book.ask - book.bid > g else 0.0
        total = 2 * LAM_LIMIT + r_cb + r_ca + r_sell + r_buy + 2 * r_in
        e, u, z = draws.next()
        t_next = t + 1000.0 * e / total
        if t_next >= times[j]:  # a scheduled instant comes first
            t = float(times[j])
            kind = kinds[j]
            j += 1
            if kind == END:
                break
            if kind == BLOCK:
                top[block] = (book.bid, book.bl0, book.bn0, book.ask, book.al0, book.an0)
                block += 1
            elif kind == DEEP:
                book.deep_batch(deep, (t - last_deep) / 1000.0)
                last_deep = t
            else:
                r = rows[kind][0]
                rows[kind][0] = r + 1
                bl, bn, al, an = book.levels(DEPTH[kind])
                o = out[kind]
                o[0][r] = book.bid - g * np.arange(DEPTH[kind])
                o[1][r], o[2][r] = bl, bn
                o[3][r] = book.ask + g * np.arange(DEPTH[kind])
                o[4][r], o[5][r] = al, an
            continue
        t = t_next
        x = u * total
        if x < LAM_LIMIT:
            book.bl0 += max(1, round(math.exp(l_mu + lsd * z)))
            book.bn0 += 1
            continue
        x -= LAM_LIMIT
        if x < LAM_LIMIT:
            book.al0 += max(1, round(math.exp(l_mu + lsd * z)))
            book.an0 += 1
            continue
        x -= LAM_LIMIT
        if x < r_cb:
            book.bl0 -= book.bl0 // book.bn0 if book.bn0 > 1 else book.bl0
            book.bn0 -= 1
            if book.bn0 == 0:
                book.bid_depleted()
            continue
        x -= r_cb
        if x < r_ca:
            book.al0 -= book.al0 // book.an0 if book.an0 > 1 else book.al0
            book.an0 -= 1
            if book.an0 == 0:
                book.ask_depleted()
            continue
        x -= r_ca
        if x < r_in:
            book.bid_improves(max(1, round(math.exp(l_mu + lsd * z))))
            continue
        x -= r_in
        if x < r_in:
            book.ask_improves(max(1, round(math.exp(l_mu + lsd * z))))
            continue
        x -= r_in
        size = max(1, round(math.exp(m_mu + msd * z)))
        buy = x >= r_sell
        for _ in range(MAX_WALK):
            queue = book.al0 if buy else book.bl0
            take = min(size, queue)
            f_t.append(t)
            f_side.append(1 if buy else -1)
            f_px.append(book.ask if buy else book.bid)
            f_lots.append(take)
            size -= take
            if take == queue:
                if buy:
                    book.ask_depleted()
                else:
                    book.bid_depleted()
            elif buy:
                book.an0 = max(1, math.ceil(book.an0 * (queue - take) / queue))
                book.al0 = queue - take
            else:
                book.bn0 = max(1, math.ceil(book.bn0 * (queue - take) / queue))
                book.bl0 = queue - take
            if size == 0:
                break
    books = {k: (Levels(o[0], o[1], o[2]), Levels(o[3], o[4], o[5])) for k, o in out.items()}
    fills = Fills(np.asarray(f_t, dtype=np.float64), np.asarray(f_side, dtype=np.int64),
                  np.asarray(f_px, dtype=np.int64), np.asarray(f_lots, dtype=np.int64))
    return HourFlow(top, books, fills)
