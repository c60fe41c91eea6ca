"""A day's per-coin rows handed between stages one coin at a time (a step's memory
independent of how many coins run).

`ByCoin` is what a stage returns: its day's rows as an iterable of frames, one coin each in
coin order, built lazily; the lake writes each as its own row group (`Lake.write_parts`),
holding one at a time. `CoinDay` is what a stage reads: a partition it walks coin by coin
(`Lake.read_coin` reads that coin's row groups only). The rows on disk are the same as the
whole day's frame written at once, so a reader that wants the whole day still reads it
whole."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from lotus_core.arrays import positions_by
from lotus_core.malloc import release_free_heap


@dataclass
class ByCoin:
    """Rows produced one coin at a time: `frames` yields each coin's frame, coins in
    increasing order (the order of the whole-day frame, which a frame-wide schema check of
    sorted rows can no longer see across parts: `counted` checks it), `empty` the frame of
    a day with no rows (its columns). After the lake has written it, `rows` holds the rows
    written per coin."""

    frames: Iterable[pd.DataFrame]
    empty: pd.DataFrame
    rows: dict[str, int] = field(default_factory=dict)
    tally: Callable[[], dict[str, Any]] | None = None  # the step's metadata, once written

    def counted(self) -> Iterator[pd.DataFrame]:
        """`frames`, each checked to hold one coin, after the previous frame's, and counted
        into `rows` as it passes. A frame that breaks the order fails naming both coins."""
        last: str | None = None
        for frame in self.frames:
            if len(frame):
                coins = pd.unique(frame["coin"].to_numpy(dtype=object))
                if len(coins) != 1:
                    raise ValueError(f"a by-coin frame holds {len(coins)} coins "
                                     f"({', '.join(sorted(map(str, coins))[:5])}): one only")
                coin = str(coins[0])
                if last is not None and coin <= last:
                    raise ValueError(f"coin {coin} came after {last}: by-coin frames come "
                                     "one coin each, in increasing coin order")
                self.rows[coin] = len(frame)
                last = coin
            yield frame


@dataclass
class InOrder:
    """A table produced as slices in its final order (a day's (ts_ms, coin, ...)-ordered
    table merged from per-coin parts: `lotus_core.store.spill.CoinSpill.merged`); the lake
    writes it in row groups of SLICE_ROWS (the rows and row groups `write` makes of the
    whole frame), one slice held at a time. `key`: the columns the table is sorted and
    unique by, which a schema check of each slice cannot see across slice ends (`counted`
    checks it); () when its order is not a sort of its own columns. `row_group`: the rows
    of a row group when SLICE_ROWS would be too wide to hold (None: SLICE_ROWS). After the
    lake has written it, `rows` holds the rows written."""

    frames: Iterable[pd.DataFrame]
    empty: pd.DataFrame
    key: tuple[str, ...] = ()
    rows: int = 0
    row_group: int | None = None

    def counted(self) -> Iterator[pd.DataFrame]:
        """`frames`, each slice's first key checked to come after the previous slice's last
        (strictly: the key is unique), and counted into `rows` as it passes."""
        last: tuple | None = None
        for frame in self.frames:
            if len(frame) and self.key:
                first = tuple(frame[c].iloc[0] for c in self.key)
                if last is not None and not last < first:
                    at = dict(zip(self.key, first, strict=True))
                    after = dict(zip(self.key, last, strict=True))
                    raise ValueError(f"a slice starts at {at} after {after}: the slices are "
                                     f"out of order by {', '.join(self.key)}")
                last = tuple(frame[c].iloc[-1] for c in self.key)
            self.rows += len(frame)
            yield frame


class ReadsCoins(Protocol):
    """A lake read a coin at a time (`Lake`, `ObjectLake`)."""

    def exists(self, asset: str, day: str) -> bool: ...

    def coin_exists(self, asset: str, day: str, coin: str) -> bool: ...

    def coins(self, asset: str, day: str) -> list[str]: ...

    def coin_rows(self, asset: str, day: str) -> dict[str, int]: ...

    def columns(self, asset: str, day: str) -> list[str]: ...

    def read_coin(self, asset: str, day: str, coin: str,
                  columns: list[str] | None = None) -> pd.DataFrame: ...

    def read(self, asset: str, day: str, columns: list[str] | None = None) -> pd.DataFrame: ...

    def read_slices(self, asset: str, day: str, rows: int = ...,
                    columns: list[str] | None = None) -> Iterator[pd.DataFrame]: ...

    def rows(self, asset: str, day: str) -> int: ...

    def read_row_groups(self, asset: str, day: str,
                        columns: list[str] | None = None) -> Iterator[pa.Table]: ...


def coin_files(store: ReadsCoins, asset: str, day: str) -> list[str] | None:
    """The coins of a day stored as coin files (a day x coin asset's), in coin order; None
    for a day in one file. A reader that needs no order of the day reads such a day a coin
    file at a time, not merged: a merged read of a wide time-ordered table holds a row group
    of every coin."""
    coins = store.coins(asset, day)
    return coins if coins and store.coin_exists(asset, day, coins[0]) else None


def unordered_parts(store: ReadsCoins, asset: str, day: str,
                    columns: list[str] | None = None) -> Iterator[tuple[str | None, pd.DataFrame]]:
    """A day's rows for a reader that folds them without the day's order (counts, sums of
    integers, sets, a coin's own order): (coin, its rows) a coin file at a time when the
    day is in coin files, else (None, a slice) of the one file. A merged read of a
    time-ordered table holds a row group of every coin."""
    coins = coin_files(store, asset, day)
    if coins is None:
        for part in store.read_slices(asset, day, columns=columns):
            yield None, part
        return
    for coin in coins:
        yield coin, store.read_coin(asset, day, coin, columns)


@dataclass(frozen=True)
class CoinDay:
    """One asset-day of the lake read coin by coin; with `coin`, that coin of the day alone
    (what a day x coin step sees of a table: its own coin)."""

    lake: ReadsCoins
    asset: str
    day: str
    coin: str | None = None

    def coins(self) -> list[str]:
        coins = self.lake.coins(self.asset, self.day)
        return coins if self.coin is None else [c for c in coins if c == self.coin]

    def coin_rows(self) -> dict[str, int]:
        """Each coin's row count, in file order (the footer's: nothing read)."""
        rows = self.lake.coin_rows(self.asset, self.day)
        return rows if self.coin is None else {c: n for c, n in rows.items() if c == self.coin}

    def columns(self) -> list[str]:
        """The partition's columns (the footer's schema: nothing read)."""
        return self.lake.columns(self.asset, self.day)

    def read(self, coin: str, columns: list[str] | None = None) -> pd.DataFrame:
        if self.coin is not None and coin != self.coin:
            raise ValueError(f"{self.asset} for {self.day} is read for {self.coin} only, "
                             f"not {coin}")
        return self.lake.read_coin(self.asset, self.day, coin, columns)

    def whole(self, columns: list[str] | None = None) -> pd.DataFrame:
        if self.coin is not None:
            return self.lake.read_coin(self.asset, self.day, self.coin, columns)
        return self.lake.read(self.asset, self.day, columns)

    def slices(self, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """The partition in slices, in file order (`Lake.read_slices`)."""
        if self.coin is not None:
            return iter([self.whole(columns)])
        return self.lake.read_slices(self.asset, self.day, columns=columns)

    def rows(self) -> int:
        """The partition's row count (its footer's: nothing read)."""
        if self.coin is not None:
            return sum(self.coin_rows().values())
        return self.lake.rows(self.asset, self.day)

    def row_groups(self, columns: list[str] | None = None) -> Iterator[pa.Table]:
        """The partition a row group at a time, as Arrow tables (`Lake.read_row_groups`)."""
        if self.coin is not None:
            return iter([pa.Table.from_pandas(self.whole(columns), preserve_index=False)])
        return self.lake.read_row_groups(self.asset, self.day, columns)


class CoinTape(Protocol):
    """What a stage that walks a day coin by coin reads: a `CoinDay` from the lake, or a
    `FrameCoins` over a frame already in memory (the whole-day form of the same stage)."""

    def coins(self) -> list[str]: ...

    def read(self, coin: str, columns: list[str] | None = None) -> pd.DataFrame: ...

    def whole(self, columns: list[str] | None = None) -> pd.DataFrame: ...


@dataclass(frozen=True)
class FrameCoins:
    """A day's frame, held whole, read coin by coin like a `CoinDay` (the frame is sorted by
    coin, as every per-coin table is): one code path for a stage's whole-frame and by-coin
    forms. `read` returns each coin's rows in the frame's order, indexed from 0."""

    frame: pd.DataFrame

    @cached_property
    def _rows(self) -> dict[str, np.ndarray]:
        """Each coin's row positions, found once (not a scan of the frame per read)."""
        found = positions_by(self.frame["coin"].astype(str).to_numpy(dtype=object))
        return {str(c): rows for c, rows in found.items()}

    def coins(self) -> list[str]:
        return sorted(self._rows)

    def read(self, coin: str, columns: list[str] | None = None) -> pd.DataFrame:
        rows = self.frame.iloc[self._rows.get(coin, np.empty(0, dtype=np.int64))]
        return (rows if columns is None else rows[columns]).reset_index(drop=True)

    def whole(self, columns: list[str] | None = None) -> pd.DataFrame:
        return self.frame if columns is None else self.frame[columns]


@dataclass(frozen=True)
class CoinParts:
    """A window's days read a coin-day at a time, each with its `date` column (a part holds
    one whole (date, coin) group): re-iterable, each pass reads again. Iterated coin by
    coin (every day of a coin, in day order, then the next coin: what a fold that finishes
    a coin before the next needs); `by_day()` day by day."""

    days: tuple[CoinDay, ...]
    columns: list[str] | None = None

    def __iter__(self) -> Iterator[pd.DataFrame]:
        coins = {d.day: d.coins() for d in self.days}
        for coin in sorted({c for cs in coins.values() for c in cs}):
            for d in self.days:
                if coin in coins[d.day]:
                    yield d.read(coin, self.columns).assign(date=d.day)
            release_free_heap()

    def by_day(self) -> Iterator[pd.DataFrame]:
        for d in self.days:
            for coin in d.coins():
                yield d.read(coin, self.columns).assign(date=d.day)
            release_free_heap()


@dataclass(frozen=True)
class CoinDays:
    """A window of an asset's days, nothing read yet: the days present (in order), each
    a `CoinDay`. A step reads them a coin-day or a row group at a time (`parts`,
    `CoinDay.row_groups`), its own day coin by coin."""

    days: tuple[CoinDay, ...]

    def get(self, day: str) -> CoinDay | None:
        return next((d for d in self.days if d.day == day), None)

    def parts(self, columns: list[str] | None = None) -> CoinParts | None:
        """The window's days a coin-day at a time (`CoinParts`); None when none is present."""
        return CoinParts(self.days, columns) if self.days else None
