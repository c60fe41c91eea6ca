"""Judge a flag column against planted truth: episodes, matching, precision and recall.

The rule (docs/dsi.md, "Judged against planted truth"): an episode is a maximal run of
consecutive flagged frames of one coin. An occurrence of the pattern is *recalled* if some
flagged frame of its coin lies in [start_ms, end_ms + tol_ms]. An episode is a *true
positive* if [first_ts, last_ts] intersects [start_ms - tol_ms, end_ms + tol_ms] of some
occurrence of the same coin. precision = TP episodes / episodes, recall = recalled /
occurrences (1.0 when there is nothing to find or nothing flagged, respectively).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_TOL_MS = 5_000


@dataclass(frozen=True)
class Match:
    """Counts behind one precision/recall figure."""

    occurrences: int
    recalled: int
    episodes: int
    true_episodes: int
    direction_agree: int  # recalled occurrences whose first in-window flag had its direction

    @property
    def precision(self) -> float:
        return self.true_episodes / self.episodes if self.episodes else 1.0

    @property
    def recall(self) -> float:
        return self.recalled / self.occurrences if self.occurrences else 1.0

    def __add__(self, other: Match) -> Match:
        return Match(*(a + b for a, b in zip(self._tuple(), other._tuple(), strict=True)))

    def _tuple(self) -> tuple[int, ...]:
        return (self.occurrences, self.recalled, self.episodes, self.true_episodes,
                self.direction_agree)


def episodes(ts_ms: np.ndarray, flag: np.ndarray, cadence_ms: int = 1000) -> np.ndarray:
    """(first_ts, last_ts) rows of each run of flagged, grid-consecutive frames."""
    on = np.flatnonzero(flag.astype(bool))
    if len(on) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    t = ts_ms[on]
    brk = np.flatnonzero(np.diff(t) != cadence_ms) + 1
    starts = np.concatenate(([0], brk))
    ends = np.concatenate((brk - 1, [len(t) - 1]))
    return np.stack([t[starts], t[ends]], axis=1)


def occurrences(truth: Mapping[str, Any], pattern: str) -> pd.DataFrame:
    """Top-level planted occurrences of one pattern type: coin, start_ms, end_ms, direction."""
    rows = [(coin, p["start_ms"], p["end_ms"], p["direction"])
            for coin, per in truth["per_coin"].items() for p in per["patterns"]
            if p["type"] == pattern and p.get("parent_id") is None]
    return pd.DataFrame(rows, columns=["coin", "start_ms", "end_ms", "direction"])


def match_flags(frames: pd.DataFrame, flag: np.ndarray, direction: np.ndarray | None,
                occ: pd.DataFrame, tol_ms: int = DEFAULT_TOL_MS,
                cadence_ms: int = 1000) -> Match:
    """Match one expert's flags (aligned with `frames`) against one pattern's occurrences."""
    total = Match(0, 0, 0, 0, 0)
    coins: Iterable[str] = sorted(set(frames["coin"].astype(str)) | set(occ["coin"]))
    for coin in coins:
        rows = np.flatnonzero((frames["coin"] == coin).to_numpy())
        ts = frames["ts_ms"].to_numpy()[rows]
        f = flag[rows].astype(bool)
        d = np.zeros(len(rows), dtype=np.int8) if direction is None else direction[rows]
        o = occ[occ["coin"] == coin]
        eps = episodes(ts, f, cadence_ms)
        lo = o["start_ms"].to_numpy() - tol_ms
        hi = o["end_ms"].to_numpy() + tol_ms
        true_eps = int(sum(np.any((e0 <= hi) & (e1 >= lo)) for e0, e1 in eps))
        recalled = agree = 0
        flagged_ts, flagged_dir = ts[f], d[f]
        for start, end, want in o[["start_ms", "end_ms", "direction"]].itertuples(index=False):
            k = np.searchsorted(flagged_ts, start)
            if k < len(flagged_ts) and flagged_ts[k] <= end + tol_ms:
                recalled += 1
                agree += int(want == 0 or flagged_dir[k] == want)
        total = total + Match(len(o), recalled, len(eps), true_eps, agree)
    return total
