"""One coin's slice of a FeedDay as plain numpy arrays, each table sorted by receive time.

Sorting is stable, so rows received in the same millisecond keep their receive order and
"the most recently received" is simply the last row at or before t. A FeedDay cut at t gives
a prefix of every array here, which is what makes the whole build causal. The live tape
slices its batches with the same specs and `fresh`, and reads a frame's depth with
`cumulative_of` / `depth_of`, the per-frame form of `Books.depth`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate

import numpy as np
import pandas as pd

from lotus_core.feed.tables import FeedDay
from lotus_core.microtape.grid import MAX_FLOAT, nan_to_num_of


@dataclass(frozen=True)
class Books:
    """l2Book frames of one coin: (n,) meta arrays and (n, levels) matrices, NaN-padded."""

    recv: np.ndarray
    time: np.ndarray
    fast: np.ndarray
    n_bid: np.ndarray
    n_ask: np.ndarray
    bid_px: np.ndarray
    bid_sz: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray

    def __len__(self) -> int:
        return len(self.recv)

    @cached_property
    def _cum(self) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.cumsum(np.nan_to_num(self.bid_sz), axis=1),
            np.cumsum(np.nan_to_num(self.ask_sz), axis=1),
        )

    def depth(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Total bid and ask size of the best k levels of each frame (missing levels: 0)."""
        bid, ask = self._cum
        if bid.shape[1] == 0 or len(self) == 0:
            return np.zeros(len(self)), np.zeros(len(self))
        col = min(k, bid.shape[1]) - 1
        return bid[:, col], ask[:, col]


def cumulative_of(sizes: list[float]) -> list[float]:
    """One frame's row of `Books._cum` (the step's form): running sizes, NaN as 0 (numpy's
    cumsum adds in order, from the first element)."""
    finite = [x if x == x else 0.0 for x in sizes]
    if finite and not -MAX_FLOAT <= min(finite) <= max(finite) <= MAX_FLOAT:  # an infinite size
        finite = [nan_to_num_of(x) for x in finite]
    return list(accumulate(finite))


def depth_of(cum: list[float], k: int) -> float:
    """`Books.depth(k)` of one frame, from its running sizes (`cumulative_of`)."""
    return cum[min(k, len(cum)) - 1]


NO_TRADES = int(np.iinfo(np.int64).max)
"""`CoinInputs.trades_from` of a coin whose trades channel was never seen: its trade
features are missing on every row past the grace (`tape.missing_span`)."""


@dataclass(frozen=True)
class CoinInputs:
    """Everything the MicroTape reads for one coin. `trades_seen`: receive time of the
    coin's first accepted trade, replayed ones included (a subscription's snapshot of past
    trades proves the channel at once, though none of them is flow); None: the first of
    `trades`."""

    coin: str
    books: Books
    trades: dict[str, np.ndarray]
    bbo: dict[str, np.ndarray]
    ctx: dict[str, np.ndarray]
    candles: dict[str, np.ndarray]
    trades_seen: int | None = None

    def trades_from(self) -> int:
        """Receive time from which the coin's trades channel is known present (`NO_TRADES`:
        never): before it, past the grace, a trade feature is missing, not 0
        (`tape.missing_span`)."""
        if self.trades_seen is not None:
            return self.trades_seen
        recv = self.trades["recv"]
        return int(recv[0]) if len(recv) else NO_TRADES

    def last_recv(self) -> int | None:
        """Receive time of the coin's last message of any kind (None if there is none)."""
        ends = [int(a[-1]) for a in self._recv_arrays() if len(a)]
        return max(ends) if ends else None

    def _recv_arrays(self) -> list[np.ndarray]:
        return [
            self.books.recv,
            self.trades["recv"],
            self.bbo["recv"],
            self.ctx["recv"],
            self.candles["recv"],
        ]


def _coin_rows(df: pd.DataFrame, coin: str) -> np.ndarray:
    """Row positions of `coin`, ordered by receive time (stable: ties keep receive order)."""
    pos = np.flatnonzero((df["coin"] == coin).to_numpy())
    recv = df["recv_ts_ms"].to_numpy(dtype=np.int64)[pos]
    return pos[np.argsort(recv, kind="stable")]


def _columns(df: pd.DataFrame, pos: np.ndarray, spec: dict[str, tuple[str, type]]) -> dict:
    return {
        name: df[col].to_numpy(dtype=dtype)[pos] for name, (col, dtype) in spec.items()
    }


_TRADES = {
    "recv": ("recv_ts_ms", np.int64),
    "time": ("time_ms", np.int64),
    "side": ("side", np.int8),
    "px": ("px", np.float64),
    "sz": ("sz", np.float64),
}
_BBO = {
    "recv": ("recv_ts_ms", np.int64),
    "time": ("time_ms", np.int64),
    "bid_px": ("bid_px", np.float64),
    "bid_sz": ("bid_sz", np.float64),
    "ask_px": ("ask_px", np.float64),
    "ask_sz": ("ask_sz", np.float64),
}
_CTX = {
    "recv": ("recv_ts_ms", np.int64),
    "funding": ("funding", np.float64),
    "open_interest": ("open_interest", np.float64),
    "oracle_px": ("oracle_px", np.float64),
    "mark_px": ("mark_px", np.float64),
    "premium": ("premium", np.float64),
}
_CANDLES = {
    "recv": ("recv_ts_ms", np.int64),
    "t_open": ("t_open_ms", np.int64),
    "t_close": ("t_close_ms", np.int64),
    "o": ("o", np.float64),
    "h": ("h", np.float64),
    "l": ("l", np.float64),
    "c": ("c", np.float64),
}


def fresh(recv: np.ndarray, time: np.ndarray, max_lag_ms: int) -> np.ndarray:
    """Trades that are flow: received at most `max_lag_ms` after their venue time (later
    ones are the venue's replay of past trades on subscribe)."""
    return recv - time <= max_lag_ms


def coin_inputs(
    feed: FeedDay, coin: str, candle_interval: str, trade_max_lag_ms: int
) -> CoinInputs:
    """Slice `feed` to one coin; candles are restricted to `candle_interval`.

    Trades received more than `trade_max_lag_ms` after their venue time are dropped: they
    are the venue's replay of past trades on subscribe, not flow of the current interval;
    they still show the channel is there (`trades_seen`).
    """
    meta = feed.books.meta
    pos = _coin_rows(meta, coin)
    books = Books(
        recv=meta["recv_ts_ms"].to_numpy(dtype=np.int64)[pos],
        time=meta["time_ms"].to_numpy(dtype=np.int64)[pos],
        fast=meta["fast"].to_numpy(dtype=bool)[pos],
        n_bid=meta["n_bid"].to_numpy(dtype=np.int64)[pos],
        n_ask=meta["n_ask"].to_numpy(dtype=np.int64)[pos],
        bid_px=feed.books.bid_px[pos],
        bid_sz=feed.books.bid_sz[pos],
        ask_px=feed.books.ask_px[pos],
        ask_sz=feed.books.ask_sz[pos],
    )
    candles = feed.candles
    if len(candles):
        candles = candles.loc[(candles["interval"] == candle_interval).to_numpy()]
    trades = _columns(feed.trades, _coin_rows(feed.trades, coin), _TRADES)
    flow = fresh(trades["recv"], trades["time"], trade_max_lag_ms)
    seen = int(trades["recv"][0]) if len(trades["recv"]) else NO_TRADES
    return CoinInputs(
        coin=coin,
        books=books,
        trades={k: v[flow] for k, v in trades.items()},
        bbo=_columns(feed.bbo, _coin_rows(feed.bbo, coin), _BBO),
        ctx=_columns(feed.ctx, _coin_rows(feed.ctx, coin), _CTX),
        candles=_columns(candles, _coin_rows(candles, coin), _CANDLES),
        trades_seen=seen,
    )


def quoted_coins(feed: FeedDay) -> list[str]:
    """Coins with at least one l2Book or bbo frame (the only coins that get a grid)."""
    coins = set(feed.books.meta["coin"].unique()) | set(feed.bbo["coin"].unique())
    return sorted(str(c) for c in coins)
