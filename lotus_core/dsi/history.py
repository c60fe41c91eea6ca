"""The DSI fit's history: the earlier days' MicroTape read as a bounded sample of whole
coin-days.

Why: the fit holds its history whole, and more than once (sorted by coin, the label, each
coin's features): a 100-coin lake's 3-day history is ~26 M frames, and the anomaly expert
keeps one sorted score per history frame (also compiled into the daemon's step). Every
estimate the fit makes (the learned experts' training subsamples, each expert's episode
counts against the label, the anomaly scores' quantiles, the label's base rate) is a
function of the history's coin-days, so a sample of coin-days keeps each estimate honest
and reports its size: the reliabilities are Beta posteriors of the episodes counted, the
training sets were already seeded subsamples (`fit_rows` of each expert).

Why whole coin-days, not rows: the label (the move over the next `horizon_s`, against a
trailing median of `rv_ref_window` frames), the grammars' runs and the sequence expert's
lags all run along one coin's consecutive frames; a row-strided sample would cut them.

`read_history` reads only the coin-days kept; `fit_dsi` applies the same choice
(`bounded`) to whatever history it is handed, so a replay that read the window whole fits
on the nightly's coin-days.

Which: at or below `history_rows` rows (the registry's), every coin-day, as before. Above,
coin-days in the order of a 64-bit hash of "day/coin" (pandas' SipHash, a fixed key: the
same lake gives the same sample on every machine), each taken whole while the total stays
within `history_rows` (a coin-day that would overflow it is passed over for smaller ones).
A coin-day's place in that order never changes, so adding coins or days only displaces
coin-days from the end of it. The row counts come from the partition's footer (a row group
per coin): a coin-day not taken is never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from lotus_core.malloc import release_free_heap


class TapeDay(Protocol):
    """One earlier day of MicroTape read by coin (`lotus_core.store.by_coin.CoinDay`)."""

    @property
    def day(self) -> str: ...

    def coin_rows(self) -> dict[str, int]: ...

    def read(self, coin: str, columns: list[str] | None = None) -> pd.DataFrame: ...


@dataclass(frozen=True)
class CoinDayRows:
    day: str
    coin: str
    rows: int


@dataclass(frozen=True)
class FitHistory:
    """The coin-days read, a frame per day (its coins in name order, each coin's rows in
    time order: the order the fit's days take, so `fit_dsi` copies nothing), and how many
    of the window's there were: what the fit's metadata reports."""

    days: tuple[tuple[str, pd.DataFrame], ...]
    coin_days: int
    of_coin_days: int
    rows: int
    of_rows: int

    @property
    def sampled(self) -> bool:
        return self.coin_days < self.of_coin_days

    @property
    def frames(self) -> pd.DataFrame:
        """The days concatenated with a `date` column (a `lake_history` input's form)."""
        parts = [f.assign(date=d) for d, f in self.days]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def chosen(parts: Sequence[CoinDayRows], max_rows: int | None) -> list[CoinDayRows]:
    """The coin-days of `parts` a fit bounded by `max_rows` reads, in the order given."""
    if max_rows is None or sum(p.rows for p in parts) <= max_rows:
        return list(parts)
    keys = np.array([f"{p.day}/{p.coin}" for p in parts], dtype=object)
    order = np.argsort(pd.util.hash_array(keys, categorize=False), kind="stable")
    keep = np.zeros(len(parts), dtype=bool)
    total = 0
    for i in order:
        if total + parts[i].rows <= max_rows:
            keep[i] = True
            total += parts[i].rows
    if not keep.any():  # every coin-day is larger than the bound: the first one alone
        keep[order[0]] = True
    return [p for p, k in zip(parts, keep, strict=True) if k]


def bounded(history: pd.DataFrame | None, max_rows: int | None) -> pd.DataFrame | None:
    """`history` (earlier days with `date` and `coin`) cut to the coin-days `chosen` keeps:
    what `fit_dsi` fits on, whoever read the history (a replay that holds it whole gets the
    coin-days the nightly read; on `read_history`'s frame it keeps everything)."""
    if history is None or max_rows is None or len(history) <= max_rows:
        return history
    date = history["date"].astype(str) if "date" in history.columns else pd.Series(
        "history", index=history.index)
    sizes = history.groupby([date, history["coin"].astype(str)], sort=False).size()
    keep = chosen([CoinDayRows(d, c, int(n)) for (d, c), n in sizes.items()], max_rows)
    mask = pd.MultiIndex.from_arrays([date, history["coin"].astype(str)]).isin(
        [(p.day, p.coin) for p in keep])
    return history[mask].reset_index(drop=True)


def read_history(days: Sequence[TapeDay], columns: list[str] | None,
                 max_rows: int | None) -> FitHistory:
    """The fit's history over `days` (earlier days only: the caller's window, each present
    in the lake): the coin-days `chosen` keeps, only `columns` read, a day at a time; no
    day when the window holds none (`fit_dsi`'s documented fallback)."""
    parts = [CoinDayRows(d.day, coin, rows) for d in days
             for coin, rows in d.coin_rows().items() if rows]
    keep = chosen(parts, max_rows)
    out = []
    for d in days:
        coins = sorted(p.coin for p in keep if p.day == d.day)
        if coins:
            out.append((d.day, pd.concat([_in_time_order(d.read(c, columns)) for c in coins],
                                         ignore_index=True)))
            release_free_heap()
    return FitHistory(tuple(out), len(keep), len(parts), sum(p.rows for p in keep),
                      sum(p.rows for p in parts))


def _in_time_order(coin: pd.DataFrame) -> pd.DataFrame:
    if "ts_ms" not in coin.columns or coin["ts_ms"].is_monotonic_increasing:
        return coin
    return coin.sort_values("ts_ms", kind="stable")
