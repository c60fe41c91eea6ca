"""raw_feed's table rules one row at a time, for the live feed's small batches.

`lotus_core.live.assemble.StreamAssembler` runs `lotus_core.feed.parse`'s vectorised
`_finish_*` rules on each batch with the carried state in front of it. A batch of the live
feed is one or two frames, and those rules (a few dozen numpy calls, then a pandas frame
per table) cost milliseconds for a single row. A table with at most `SMALL_ROWS` new rows
takes this path instead: the same rules in the same order on Python values, the same
carried state (read and written in place, so batches may switch paths at will), and the
accepted rows as `Cols` (numpy columns; a pandas frame only when a reader asks for one).

The rules, per table (`lotus_core.feed.parse`):
- l2Book, per stream (coin, fast): older than the stream's latest venue time: refused; else
  the row becomes the stream's latest, and is accepted unless it resends that latest row
  (same time and levels), has a malformed number, is not sane (`_book_is_sane`) or has no
  coin;
- bbo, per coin: malformed or crossed: refused; then older than the stream's latest:
  refused; else the row becomes the latest, accepted unless it resends it;
- activeAssetCtx: accepted unless malformed or funding / OI / oracle / mark is NaN;
- candle, per (coin, interval): malformed or not l <= o, c <= h: refused; an open before the
  stream's current one: refused; else it becomes the current one and is accepted;
- trades: a trade whose (coin, time, tid) was seen earlier today is a replay (dropped); a
  frame with a bad trade that is not all replays is refused whole.

tests/core/live/test_live_assemble.py checks the streaming assembler (batches of 1, 2 and 7
lines take this path, larger ones the vectorised one) equals `assemble_chunks` over the
whole day, on recordings and on lines built to break every rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import lotus_core.feed.parse as P
from lotus_core.feed import extract as ex
from lotus_core.feed.tables import BookFrames

SMALL_ROWS = 8
"""New rows of a table at most which a batch takes the per-row path."""

_MATRICES = ("bid_px", "bid_sz", "ask_px", "ask_sz")
BOOK_META = (("recv", "recv_ts_ms"), ("coin", "coin"), ("time", "time_ms"), ("fast", "fast"),
             ("nb", "n_bid"), ("na", "n_ask"))
TRADES = (("recv", "recv_ts_ms"), ("coin", "coin"), ("time", "time_ms"), ("side", "side"),
          ("px", "px"), ("sz", "sz"), ("tid", "tid"))
BBO = (("recv", "recv_ts_ms"), ("coin", "coin"), ("time", "time_ms"), ("bid_px", "bid_px"),
       ("bid_sz", "bid_sz"), ("ask_px", "ask_px"), ("ask_sz", "ask_sz"))
CTX = (("recv", "recv_ts_ms"), ("coin", "coin"), *((f, f) for f in ex.CTX_FIELDS))
CANDLES = (("recv", "recv_ts_ms"), ("coin", "coin"), ("interval", "interval"),
           *((c, c) for c in ("t_open_ms", "t_close_ms", "o", "h", "l", "c", "v", "n")))


class Cols:
    """A table's accepted rows as raw_feed's columns (coin and interval still coded), named
    as its frame names them. The live scorer reads `live_columns()`; `frame()` is the frame
    `lotus_core.feed.parse._frame` builds from the same rows (built once, on demand)."""

    __slots__ = ("t", "names", "coins", "intervals", "_frame")

    def __init__(self, t: dict[str, np.ndarray], names: tuple[tuple[str, str], ...],
                 coins: P._Names, intervals: P._Names | None = None) -> None:
        self.t, self.names, self.coins, self.intervals = t, names, coins, intervals
        self._frame: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.t["recv"])

    def recv(self) -> np.ndarray:
        return self.t["recv"]

    def live_columns(self) -> dict[str, Any]:
        """Column name -> values (coin and interval as lists of str)."""
        out: dict[str, Any] = {}
        for src, name in self.names:
            v: Any = self.t[src]
            if src == "coin":
                v = [self.coins.names[c] for c in v.tolist()]
            elif src == "interval" and self.intervals is not None:
                v = [self.intervals.names[c] for c in v.tolist()]
            out[name] = v
        return out

    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            cols: dict[str, Any] = {}
            for src, name in self.names:
                v = self.t[src]
                if src == "coin":
                    v = self.coins.decode(v)
                elif src == "interval" and self.intervals is not None:
                    v = self.intervals.decode(v)
                cols[name] = v
            self._frame = pd.DataFrame(cols)
        return self._frame

    @staticmethod
    def concat(parts: list[Cols]) -> Cols:
        first = parts[0]
        return Cols({k: np.concatenate([p.t[k] for p in parts]) for k in first.t},
                    first.names, first.coins, first.intervals)


class BookCols:
    """Accepted l2Book rows: `meta` as `Cols`, the level matrices as arrays (BookFrames'
    shape; `frames()` is the BookFrames)."""

    __slots__ = ("meta", "bid_px", "bid_sz", "ask_px", "ask_sz")

    def __init__(self, meta: Cols, bid_px: np.ndarray, bid_sz: np.ndarray,
                 ask_px: np.ndarray, ask_sz: np.ndarray) -> None:
        self.meta = meta
        self.bid_px, self.bid_sz, self.ask_px, self.ask_sz = bid_px, bid_sz, ask_px, ask_sz

    def __len__(self) -> int:
        return len(self.meta)

    def recv(self) -> np.ndarray:
        return self.meta.t["recv"]

    def frames(self) -> BookFrames:
        return BookFrames(self.meta.frame(), self.bid_px, self.bid_sz, self.ask_px,
                          self.ask_sz)

    @staticmethod
    def concat(parts: list[BookCols]) -> BookCols:
        return BookCols(Cols.concat([p.meta for p in parts]),
                        *(np.concatenate([getattr(p, m) for p in parts]) for m in _MATRICES))


def _nan_equal(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


class _Carry:
    """One table's carried rows (a dict of columns, a row per stream) by stream key,
    updated in place as rows become their stream's latest."""

    def __init__(self, store: dict[str, dict[str, np.ndarray] | None], table: str,
                 key: Callable[[dict[str, np.ndarray], int], tuple[int, ...]]) -> None:
        self.store, self.table, self.key = store, table, key
        cols = store[table]
        n = len(cols["recv"]) if cols else 0
        self.index = {key(cols, j): j for j in range(n)} if cols else {}

    def get(self, k: tuple[int, ...]) -> int | None:
        return self.index.get(k)

    def cols(self) -> dict[str, np.ndarray]:
        cols = self.store[self.table]
        assert cols is not None
        return cols

    def put(self, k: tuple[int, ...], new: dict[str, np.ndarray], i: int) -> None:
        j = self.index.get(k)
        cols = self.store[self.table]
        if j is not None and cols is not None:
            for name, values in cols.items():
                values[j] = new[name][i]
            return
        row = {name: values[i:i + 1] for name, values in new.items()}
        self.store[self.table] = ({name: v.copy() for name, v in row.items()} if not cols
                                  else {name: np.concatenate([cols[name], row[name]])
                                        for name in cols})
        self.index[k] = len(self.store[self.table]["recv"]) - 1  # type: ignore[index]


def _coin_fast(cols: dict[str, np.ndarray], j: int) -> tuple[int, ...]:
    return int(cols["coin"][j]), bool(cols["fast"][j])


def _coin(cols: dict[str, np.ndarray], j: int) -> tuple[int, ...]:
    return (int(cols["coin"][j]),)


def _coin_interval(cols: dict[str, np.ndarray], j: int) -> tuple[int, ...]:
    return int(cols["coin"][j]), int(cols["interval"][j])


def _take(new: dict[str, np.ndarray], keep: list[int], names: tuple[tuple[str, str], ...],
          coins: P._Names, intervals: P._Names | None = None) -> Cols:
    idx = np.asarray(keep, dtype=np.int64)
    return Cols({src: new[src][idx] for src, _ in names}, names, coins, intervals)


def small_books(new: dict[str, np.ndarray], carry: dict[str, Any], coins: P._Names
                ) -> BookCols:
    streams = _Carry(carry, "books", _coin_fast)
    sane = P._book_is_sane(new["bid_px"], new["bid_sz"], new["ask_px"], new["ask_sz"],
                           new["nb"], new["na"]).tolist()
    coin, fast, time = new["coin"].tolist(), new["fast"].tolist(), new["time"].tolist()
    ok = new["ok"].tolist()
    keep = []
    for i in range(len(coin)):
        k = (coin[i], fast[i])
        j = streams.get(k)
        resent = False
        if j is not None:
            cols = streams.cols()
            latest = int(cols["time"][j])
            if time[i] < latest:
                continue  # out of order
            resent = float(time[i]) == float(latest) and all(
                np.array_equal(cols[m][j], new[m][i], equal_nan=True) for m in _MATRICES)
        streams.put(k, new, i)
        if not resent and ok[i] and sane[i] and coin[i] >= 0:
            keep.append(i)
    idx = np.asarray(keep, dtype=np.int64)
    meta = _take(new, keep, BOOK_META, coins)
    return BookCols(meta, *(new[m][idx] for m in _MATRICES))


def small_bbo(new: dict[str, np.ndarray], carry: dict[str, Any], coins: P._Names) -> Cols:
    streams = _Carry(carry, "bbo", _coin)
    coin, time, ok = new["coin"].tolist(), new["time"].tolist(), new["ok"].tolist()
    vals = [new[m].tolist() for m in _MATRICES]
    keep = []
    for i in range(len(coin)):
        if not (ok[i] and coin[i] >= 0) or vals[0][i] >= vals[2][i]:
            continue  # malformed, or crossed
        k = (coin[i],)
        j = streams.get(k)
        resent = False
        if j is not None:
            cols = streams.cols()
            latest = int(cols["time"][j])
            if time[i] < latest:
                continue  # out of order
            resent = float(time[i]) == float(latest) and all(
                _nan_equal(float(cols[m][j]), vals[n][i]) for n, m in enumerate(_MATRICES))
        streams.put(k, new, i)
        if not resent:
            keep.append(i)
    return _take(new, keep, BBO, coins)


def small_ctx(new: dict[str, np.ndarray], coins: P._Names) -> Cols:
    coin, ok = new["coin"].tolist(), new["ok"].tolist()
    vals = [new[f].tolist() for f in ex.CTX_FIELDS[:4]]
    keep = [i for i in range(len(coin))
            if ok[i] and coin[i] >= 0 and all(v[i] == v[i] for v in vals)]
    return _take(new, keep, CTX, coins)


def _lo_hi(a: float, b: float) -> tuple[float, float]:
    """np.minimum / np.maximum of two floats (NaN if either is)."""
    if a != a or b != b:
        return float("nan"), float("nan")
    return min(a, b), max(a, b)


def small_candles(new: dict[str, np.ndarray], carry: dict[str, Any], coins: P._Names,
                  intervals: P._Names) -> Cols:
    streams = _Carry(carry, "candles", _coin_interval)
    coin, interval = new["coin"].tolist(), new["interval"].tolist()
    ok, t_open = new["ok"].tolist(), new["t_open_ms"].tolist()
    o, h, lo, c = (new[x].tolist() for x in ("o", "h", "l", "c"))
    keep = []
    for i in range(len(coin)):
        mn, mx = _lo_hi(o[i], c[i])
        if not (ok[i] and coin[i] >= 0 and interval[i] >= 0 and lo[i] <= mn and h[i] >= mx):
            continue  # malformed
        k = (coin[i], interval[i])
        j = streams.get(k)
        if j is not None and t_open[i] < int(streams.cols()["t_open_ms"][j]):
            continue  # opened before the stream's current candle
        streams.put(k, new, i)
        keep.append(i)
    return _take(new, keep, CANDLES, coins, intervals)


def small_trades(new: dict[str, np.ndarray], hashes: np.ndarray,
                 seen_before: Callable[[np.ndarray], np.ndarray], coins: P._Names) -> Cols:
    """`hashes`: each trade's key hash; `seen_before`: which were seen in earlier batches."""
    coin, time, tid = new["coin"].tolist(), new["time"].tolist(), new["tid"].tolist()
    line, ok = new["line"].tolist(), new["ok"].tolist()
    px, sz = new["px"].tolist(), new["sz"].tolist()
    earlier = seen_before(hashes).tolist()
    here: set[tuple[int, int, int]] = set()
    replayed = []
    for i in range(len(coin)):
        k = (coin[i], time[i], tid[i])
        replayed.append(k in here or earlier[i])
        here.add(k)
    all_replayed: dict[int, bool] = {}
    for i, n in enumerate(line):
        all_replayed[n] = all_replayed.get(n, True) and replayed[i]
    bad = {line[i] for i in range(len(coin))
           if not (ok[i] and coin[i] >= 0 and px[i] > 0 and sz[i] > 0)
           and not all_replayed[line[i]]}
    keep = [i for i in range(len(coin)) if not replayed[i] and line[i] not in bad]
    return _take(new, keep, TRADES, coins)


def trade_hashes(coin: np.ndarray, time: np.ndarray, tid: np.ndarray) -> np.ndarray:
    """64-bit hashes of (coin, time, tid) keys (splitmix64 rounds): the streaming
    assembler's memory of the day's trades, 8 bytes a trade."""
    h = _mix(coin.astype(np.int64).view(np.uint64) ^ np.uint64(0x9E3779B97F4A7C15))
    h = _mix(h ^ time.astype(np.int64).view(np.uint64))
    return _mix(h ^ tid.astype(np.int64).view(np.uint64))


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def frames_of(table: Any) -> Any:
    """A table of a `Parsed` as pandas (Cols -> frame, BookCols -> BookFrames)."""
    if isinstance(table, Cols):
        return table.frame()
    if isinstance(table, BookCols):
        return table.frames()
    return table
