"""The live feed buffer, bounded: parsed rows of the trailing span plus each stream's carry.

Every MicroTape feature at grid time g reads data received in (g - warm_span_ms, g]
(`lotus_core.microtape.warm.warm_span_ms`: the longest trailing window, its inputs' own
windows included, plus a minute) and, through as-of joins, the last row of each stream
before that. So the rows of a coin from `g` on are the nightly's when the builder is fed
that coin's rows received from `c = g - warm_span_ms` on, plus its carry at c:

- the last l2Book of each stream (fast, slow) and the last two-sided one (top of book,
  depth, the cancel pair's previous frame), the last two-sided bbo;
- the last activeAssetCtx; the last candle update of each interval;
- the last `outlier_window + 1` fresh trades, back to the start of their same-side run
  (the robust size threshold and `aggr_runlen` count trades, not time).

The only count the carry does not cover is the candle-range rank's 60 previous candles,
which the span holds while candles arrive (one a minute; warm_span_ms counts them too,
the same assumption the nightly warm start makes). `trailing` applies these cuts per coin;
trimming the buffer to a cut keeps the carry, so carries survive trimming.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lotus_core.feed.tables import BookFrames, FeedDay
from lotus_core.live.assemble import Parsed, _last_per_stream, empty_books
from lotus_core.microtape.params import MicroTapeParams
from lotus_core.microtape.tape import run_lengths

_TABLES = ("trades", "bbo", "ctx", "candles")
_TRIM_EVERY_MS = 300_000


def _empty() -> Parsed:
    from lotus_core.feed.extract import extract_chunk
    from lotus_core.live.assemble import StreamAssembler

    return StreamAssembler("1970-01-01").add(extract_chunk(1, []), [])


def _concat_books(parts: list[BookFrames]) -> BookFrames:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_books()
    if len(parts) == 1:
        return parts[0]
    return BookFrames(pd.concat([p.meta for p in parts], ignore_index=True),
                      *(np.concatenate([getattr(p, m) for p in parts])
                        for m in ("bid_px", "bid_sz", "ask_px", "ask_sz")))


def _codes(coins: pd.Series) -> tuple[np.ndarray, list[str]]:
    codes, names = pd.factorize(coins, sort=True)
    return np.asarray(codes, dtype=np.int64), [str(n) for n in names]


def _in(coins: pd.Series, wanted: set[str]) -> np.ndarray:
    """Rows whose coin is in `wanted` (through the codes: no per-row string objects)."""
    codes, names = _codes(coins)
    flags = np.array([n in wanted for n in names] + [False])
    return flags[codes] if len(codes) else np.zeros(0, bool)


def _row_cut(coins: pd.Series, cuts: dict[str, int]) -> np.ndarray:
    """Each row's coin cut (int64 max: coin not wanted)."""
    codes, names = _codes(coins)
    big = np.iinfo(np.int64).max
    per = np.array([cuts.get(n, big) for n in names] + [big], dtype=np.int64)
    return per[codes] if len(codes) else np.empty(0, np.int64)


_EMPTY = _empty()


class TailBuffer:
    """Parsed rows in receive order (possibly spanning midnight), trimmed from the front."""

    def __init__(self) -> None:
        self.books = empty_books()
        self.tables: dict[str, pd.DataFrame] = {
            name: getattr(_EMPTY, name) for name in _TABLES}
        self._pending: list[Parsed] = []
        self._trimmed: dict[str, int] = {}
        self.last_quote: dict[str, int] = {}  # per coin, its last two-sided quote

    def add(self, parsed: Parsed) -> None:
        self._pending.append(parsed)
        m, b = parsed.books.meta, parsed.bbo
        two = (m["n_bid"].to_numpy() > 0) & (m["n_ask"].to_numpy() > 0)
        okb = ~(b["bid_px"].isna() | b["ask_px"].isna()).to_numpy()
        for coins, recv in ((m["coin"].to_numpy(dtype=object)[two],
                             m["recv_ts_ms"].to_numpy()[two]),
                            (b["coin"].to_numpy(dtype=object)[okb],
                             b["recv_ts_ms"].to_numpy()[okb])):
            for coin, t in zip(coins.tolist(), recv.tolist(), strict=True):
                if t > self.last_quote.get(coin, -1):
                    self.last_quote[coin] = t

    def quoted_since(self, lo: int) -> list[str]:
        """Coins with a two-sided quote (l2Book or bbo) received at or after `lo`."""
        return sorted(c for c, t in self.last_quote.items() if t >= lo)

    def _flush(self) -> None:
        if not self._pending:
            return
        self.books = _concat_books([self.books] + [p.books for p in self._pending])
        for name in _TABLES:
            parts = [df for df in [self.tables[name]] + [getattr(p, name)
                                                         for p in self._pending] if len(df)]
            if parts:
                self.tables[name] = (parts[0] if len(parts) == 1 else
                                     pd.concat(parts, ignore_index=True))
        self._pending = []

    def rows(self) -> int:
        self._flush()
        return len(self.books) + sum(len(df) for df in self.tables.values())

    def feed(self, day: str, lo: int | None = None, hi: int | None = None) -> FeedDay:
        """Every buffered row received in [lo, hi) (no carry): the day's tables as parsed."""
        self._flush()
        recv = self.books.meta["recv_ts_ms"].to_numpy()
        lo_ = np.iinfo(np.int64).min if lo is None else lo
        hi_ = np.iinfo(np.int64).max if hi is None else hi
        books = self.books.select((recv >= lo_) & (recv < hi_))
        tables = {}
        for name in _TABLES:
            df = self.tables[name]
            r = df["recv_ts_ms"].to_numpy()
            tables[name] = df.loc[(r >= lo_) & (r < hi_)].reset_index(drop=True)
        return FeedDay(day=day, source=f"live:{day}", sha256="", books=books, **tables)

    def trailing(self, day: str, cuts: dict[str, int], carry: dict[str, bool],
                 params: MicroTapeParams, floor: int) -> FeedDay:
        """Per coin, the rows received at or after its cut, plus (where `carry[coin]`) the
        carry at the cut (module docstring), never a row received before `floor` (the
        day's input start). Coins without a cut are left out."""
        self._flush()
        return FeedDay(day=day, source=f"live:{day}", sha256="",
                       **self._select(cuts, carry, params, floor))

    def trim(self, cuts: dict[str, int] | int, params: MicroTapeParams, floor: int) -> None:
        """Forget rows received before each coin's cut, except its carry at the cut (an
        int: one cut for all; a coin missing from the dict: the earliest cut), and every
        row received before `floor`."""
        self._flush()
        coins = set(_codes(self.books.meta["coin"])[1])
        for name in _TABLES:
            coins |= set(_codes(self.tables[name]["coin"])[1])
        if isinstance(cuts, int):
            cuts = dict.fromkeys(coins, cuts)
        if not cuts:
            return
        low = min(cuts.values())
        cuts = {c: cuts.get(c, low) for c in coins}
        if self._trimmed and all(t - self._trimmed.get(c, -_TRIM_EVERY_MS) < _TRIM_EVERY_MS
                                 for c, t in cuts.items()):
            return  # trimming copies the buffer: every few minutes of feed is enough
        self._trimmed = dict(cuts)
        sel = self._select(cuts, dict.fromkeys(coins, True), params, floor)
        self.books = sel.pop("books")
        self.tables.update(sel)

    def _select(self, cuts: dict[str, int], carry: dict[str, bool],
                params: MicroTapeParams, floor: int) -> dict:
        with_carry = {c for c, v in carry.items() if v}
        out: dict = {}
        m = self.books.meta
        recv = m["recv_ts_ms"].to_numpy()
        cut = _row_cut(m["coin"], cuts)
        keep = recv >= cut
        before = np.flatnonzero((recv < cut) & (recv >= floor) & _in(m["coin"], with_carry))
        if len(before):
            code, _ = _codes(m["coin"])
            fast = m["fast"].to_numpy().astype(np.int64)
            keep[_last_per_stream([code, fast], before)] = True
            two = before[(m["n_bid"].to_numpy()[before] > 0) & (m["n_ask"].to_numpy()[before] > 0)]
            keep[_last_per_stream([code], two)] = True
        out["books"] = self.books.select(keep)
        for name in _TABLES:
            df = self.tables[name]
            r = df["recv_ts_ms"].to_numpy()
            cut = _row_cut(df["coin"], cuts)
            keep = r >= cut
            before = np.flatnonzero((r < cut) & (r >= floor) & _in(df["coin"], with_carry))
            if len(before):
                code, _ = _codes(df["coin"])
                if name == "bbo":
                    two = before[~(np.isnan(df["bid_px"].to_numpy()[before])
                                   | np.isnan(df["ask_px"].to_numpy()[before]))]
                    keep[_last_per_stream([code], two)] = True
                elif name == "ctx":
                    keep[_last_per_stream([code], before)] = True
                elif name == "candles":
                    interval, _ = _codes(df["interval"])
                    keep[_last_per_stream([code, interval], before)] = True
                else:
                    keep[_trade_carry(df, before, code, params)] = True
            out[name] = df.loc[keep].reset_index(drop=True)
        return out


def _trade_carry(df: pd.DataFrame, before: np.ndarray, code: np.ndarray,
                 params: MicroTapeParams) -> np.ndarray:
    """Per coin, the last outlier_window + 1 fresh trades before the cut, back to the start
    of the same-side run the last of them ends (coin_inputs' fresh rule)."""
    lag = (df["recv_ts_ms"].to_numpy()[before] - df["time_ms"].to_numpy()[before])
    fresh = before[lag <= params.trade_max_lag_ms]
    picks = []
    side = df["side"].to_numpy()
    recv = df["recv_ts_ms"].to_numpy()
    for c in np.unique(code[fresh]):
        rows = fresh[code[fresh] == c]
        rows = rows[np.argsort(recv[rows], kind="stable")]
        run = int(abs(run_lengths(side[rows])[-1])) if len(rows) else 0
        picks.append(rows[-max(params.outlier_window + 1, run):])
    return np.concatenate(picks) if picks else np.empty(0, np.int64)
