"""1-minute candles built from the generated fills, re-sent as they update.

The current candle is pushed at the last trade block of every 5-second bucket that had
trades, like a venue feed re-sending the open candle as it changes, except that the final
state of the minute is pushed at its close time (t + 59,999 ms) instead of with its last
bucket. So every push differs from the previous one (no byte-identical re-sends, which a
reader may take for duplicated lines). Minutes without trades send nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lotus_core.time import MINUTE_MS

PUSH_EVERY_MS = 5_000


@dataclass(frozen=True)
class CandlePushes:
    """One row per push: the candle's state as of `time_ms`."""

    time_ms: np.ndarray
    t_open: np.ndarray
    o: np.ndarray
    c: np.ndarray
    h: np.ndarray
    low: np.ndarray
    v_lots: np.ndarray
    n: np.ndarray


def candle_pushes(time_ms: np.ndarray, px: np.ndarray, lots: np.ndarray) -> CandlePushes:
    """Running OHLCV per minute at each push; inputs are fills in time order."""
    if len(time_ms) == 0:
        empty = np.zeros(0, np.int64)
        return CandlePushes(*(empty,) * 8)
    minute = time_ms // MINUTE_MS
    new_minute = np.concatenate(([True], minute[1:] != minute[:-1]))
    group = np.cumsum(new_minute) - 1
    first = np.flatnonzero(new_minute)
    span = int(px.max() - px.min()) + 1
    rel = px - px.min()
    high = np.maximum.accumulate(rel + group * span) - group * span + px.min()
    low = -np.maximum.accumulate(-rel + group * span) + group * span + px.min()
    v = np.cumsum(lots)
    v_in_minute = v - (v[first] - lots[first])[group]
    n_in_minute = np.arange(len(px)) - first[group] + 1
    bucket = (time_ms - minute * MINUTE_MS) // PUSH_EVERY_MS
    key = minute * 100 + bucket
    last_in_bucket = np.concatenate((key[1:] != key[:-1], [True]))
    last_in_minute = np.concatenate((new_minute[1:], [True]))
    rows = np.flatnonzero(last_in_bucket & ~last_in_minute)
    closes = np.flatnonzero(last_in_minute)
    push_rows = np.concatenate((rows, closes))
    push_time = np.concatenate((time_ms[rows], minute[closes] * MINUTE_MS + MINUTE_MS - 1))
    order = np.argsort(push_time, kind="stable")
    r = push_rows[order]
    return CandlePushes(
        time_ms=push_time[order],
        t_open=minute[r] * MINUTE_MS,
        o=px[first[group[r]]],
        c=px[r],
        h=high[r],
        low=low[r],
        v_lots=v_in_minute[r],
        n=n_in_minute[r],
    )
