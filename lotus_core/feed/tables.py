"""The columnar form of one recorded day, shared by `raw_feed`, the MicroTape and the daemon.

A recording is parsed once into these tables so that every later stage is vectorised.
All timestamps are integer milliseconds since the epoch; `recv_ts_ms` is the recorder's
clock (the only clock that is safe for "known at time t"), `time_ms` is the venue's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

MAX_LEVELS = 20
"""Levels kept per book side; the venue's slow l2Book sends 20, the fast one 5."""


@dataclass(frozen=True)
class BookFrames:
    """Every accepted l2Book snapshot of the day, in receive order.

    `meta` has one row per snapshot: recv_ts_ms (int64), coin (str), time_ms (int64),
    fast (bool: the 5-level fast stream), n_bid / n_ask (int16: levels present).
    The four matrices are (n_frames, MAX_LEVELS) float64, best level first, NaN-padded.
    """

    meta: pd.DataFrame
    bid_px: np.ndarray
    bid_sz: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray

    def __len__(self) -> int:
        return len(self.meta)

    def levels(self, i: int) -> tuple[list[float], list[float], list[float], list[float]]:
        """Frame i's (bid_px, bid_sz, ask_px, ask_sz) as lists, best level first (the
        levels present; `PackedBooks.levels` gives the same for the packed form)."""
        nb, na = self._counts
        b, a = nb[i], na[i]
        return (self.bid_px[i, :b].tolist(), self.bid_sz[i, :b].tolist(),
                self.ask_px[i, :a].tolist(), self.ask_sz[i, :a].tolist())

    @cached_property
    def _counts(self) -> tuple[list[int], list[int]]:
        """Levels present per frame, as Python ints (`levels` is on the replay's hot path)."""
        return (self.meta["n_bid"].to_numpy(np.int64).tolist(),
                self.meta["n_ask"].to_numpy(np.int64).tolist())

    def tops(self) -> tuple[np.ndarray, np.ndarray]:
        """Best bid and ask price per frame (NaN for an empty side)."""
        if not len(self):
            return np.empty(0), np.empty(0)
        return self.bid_px[:, 0], self.ask_px[:, 0]

    def select(self, mask: np.ndarray) -> BookFrames:
        """Rows where `mask` holds (e.g. one coin), keeping the matrices aligned with `meta`."""
        return BookFrames(
            meta=self.meta.loc[mask].reset_index(drop=True),
            bid_px=self.bid_px[mask],
            bid_sz=self.bid_sz[mask],
            ask_px=self.ask_px[mask],
            ask_sz=self.ask_sz[mask],
        )


@dataclass(frozen=True)
class DeadLetter:
    """A line (or part of one) that was not accepted, and why."""

    line_no: int
    recv_ts_ms: int | None
    channel: str | None
    coin: str | None
    reason: str
    detail: str
    raw: str


GAP_REASONS = ("disconnect", "stall")


def gaps_frame(recv: np.ndarray, start: np.ndarray, end: np.ndarray, reason: np.ndarray,
               coin: list[str]) -> pd.DataFrame:
    """The `gaps` table from its columns (`reason` as codes into GAP_REASONS)."""
    return pd.DataFrame({
        "recv_ts_ms": np.asarray(recv, dtype=np.int64),
        "start_ms": np.asarray(start, dtype=np.int64),
        "end_ms": np.asarray(end, dtype=np.int64),
        "reason": pd.array(np.array(GAP_REASONS, dtype=object)[np.asarray(reason, dtype=np.int64)]
                           if len(reason) else [], dtype="str"),
        "coin": pd.array(list(coin), dtype="str")})


def empty_gaps() -> pd.DataFrame:
    return gaps_frame(np.empty(0), np.empty(0), np.empty(0), np.empty(0), [])


@dataclass
class FeedDay:
    """One day's recording, validated and flattened.

    trades:  recv_ts_ms, coin, time_ms, side (int8: +1 buyer aggressor "B", -1 seller "A"),
             px, sz (float64), tid (int64)
    bbo:     recv_ts_ms, coin, time_ms, bid_px, bid_sz, ask_px, ask_sz (NaN where null)
    ctx:     recv_ts_ms, coin, funding, open_interest, oracle_px, mark_px, mid_px, premium
             (NaN where null)
    candles: recv_ts_ms, coin, interval, t_open_ms, t_close_ms, o, h, l, c, v (float64), n (int64)
    gaps:    recv_ts_ms, start_ms, end_ms (-1: the gap is still open), reason ("disconnect" |
             "stall"), coin ("" for every coin): the recorder's lotusGap records, one row per
             coin named, in receive order (docs/live.md, recording format)
    counts:  (channel, coin) -> accepted frames; `dead` lists what was refused, `stats`
             holds the other tallies (lines, resent snapshots, duplicate trades dropped...).
    """

    day: str
    source: str
    sha256: str
    books: BookFrames
    trades: pd.DataFrame
    bbo: pd.DataFrame
    ctx: pd.DataFrame
    candles: pd.DataFrame
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    gaps: pd.DataFrame = field(default_factory=empty_gaps)

    @property
    def coins(self) -> list[str]:
        return sorted({coin for _, coin in self.counts})
