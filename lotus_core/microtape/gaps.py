"""The `gap` flag: MicroTape rows inside a recorded hole in the feed, or in the warm-up after it.

The recorder writes a `lotusGap` record for every disconnect and stall (docs/live.md): one
with `end_ms: null` when the hole opens (a dropped connection, a stale period), one with
its end when the hole closes (the first frame after the reconnect, the period's end). A gap
flags the grid times t with lo <= t < hi, where

- lo = max(start_ms, the receive time of the gap's first record): a row is flagged only
  from when the recording says so, so the live tape, which has every line received at or
  before t when it emits row t, flags exactly what the nightly build flags;
- hi = end_ms + `gap_warmup_ms` once the closing record is in (the trailing windows refill
  after the hole), else open (to the end of the day).

A record applies to the coin it names, or to every coin (`coin` ""). One definition for
the batch (`flags`) and the stream (`flag`, on the records received so far).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_OPEN = 2**62


class GapBook:
    """Gap records in receive order (`add`), as flagged [lo, hi) spans per coin."""

    def __init__(self, warmup_ms: int, since_ms: int = -(2**62)) -> None:
        self.warmup_ms = warmup_ms
        self.since_ms = since_ms  # records received before (a warm start's tail) are not read
        self._open: dict[tuple[str, str, int], int] = {}
        self._spans: dict[str, list[tuple[int, int]]] = {}

    def __bool__(self) -> bool:
        return bool(self._open or self._spans)

    def add(self, recv: int, start: int, end: int, reason: str, coin: str) -> None:
        """One gap row (`end` -1: the record of an open gap)."""
        if recv < self.since_ms:
            return
        key = (coin, reason, start)
        if end < 0:
            self._open.setdefault(key, max(start, recv))
            return
        lo = self._open.pop(key, max(start, recv))
        self._spans.setdefault(coin, []).append((lo, end + self.warmup_ms))

    def add_frame(self, gaps: pd.DataFrame | None) -> None:
        if gaps is None or len(gaps) == 0:
            return
        for row in zip(gaps["recv_ts_ms"].tolist(), gaps["start_ms"].tolist(),
                       gaps["end_ms"].tolist(), gaps["reason"].tolist(), gaps["coin"].tolist(),
                       strict=True):
            self.add(*row)

    def spans(self, coin: str) -> list[tuple[int, int]]:
        """Every [lo, hi) of `coin` (its own gaps and every coin's), open ones to the end."""
        out = [*self._spans.get("", []), *self._spans.get(coin, [])]
        out += [(lo, _OPEN) for (c, _, _), lo in self._open.items() if c in ("", coin)]
        return out

    def flags(self, coin: str, ts: np.ndarray) -> np.ndarray:
        """The flag of each grid time in `ts`."""
        out = np.zeros(len(ts), dtype=bool)
        for lo, hi in self.spans(coin):
            out |= (ts >= lo) & (ts < hi)
        return out

    def flag_run(self, coin: str, t0: int, n: int, cadence: int) -> list[bool]:
        """`flags` of the n grid times t0, t0 + cadence, ... (the stream's rows)."""
        spans = self.spans(coin) if self else []
        if not spans:
            return [False] * n
        return self.flags(coin, t0 + cadence * np.arange(n, dtype=np.int64)).tolist()


def gap_book(gaps: pd.DataFrame | None, warmup_ms: int, since_ms: int = -(2**62)) -> GapBook:
    book = GapBook(warmup_ms, since_ms)
    book.add_frame(gaps)
    return book
