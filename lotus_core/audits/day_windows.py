"""The day's windows as the day-wide audits read them, kept per detector and coin.

Why: the label shuffle, the rolling-origin gap and the future-touch draws read every coin's
windows of one detector in the day's order, (ts_ms, coin). Held as one frame of every
detector in those columns and sorted whole, the day cost ~60 bytes a window, three times
over while it was sorted (+180 MB at 99 coins against 3). Here each coin's windows of a
detector are kept as arrays without the coin's or the detector's name (~19 bytes a
window), and a detector's are put in the day's order when it is audited, one at a time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lotus_core.arrays import positions_by

COLUMNS = ["ts_ms", "coin", "detector_id", "direction", "fwd_ret_bps", "outcome_ok", "gap"]
"""What the day-wide audits read of the day's windows (`label_shuffle`, `window_hits`,
`usable`, the future-touch draws)."""


class DayWindows:
    """Every coin's windows of the day, by detector: `add` each coin's windows (in the
    coin's own order, as `detect_parts` gives them), then `of(detector)` is that detector's
    windows in the order the whole day sorted stably by (ts_ms, coin) gives."""

    def __init__(self, empty: pd.DataFrame) -> None:
        self.columns = [c for c in COLUMNS if c in empty.columns]
        self._empty = empty[self.columns].iloc[:0]
        self._data = [c for c in self.columns if c not in ("coin", "detector_id")]
        # detector -> [(coin, {column: values})], coins in the order they were added
        self._parts: dict[str, list[tuple[str, dict[str, np.ndarray]]]] = {}

    def add(self, part: pd.DataFrame) -> None:
        """One coin's windows (every detector's)."""
        if not len(part):
            return
        coins = pd.unique(part["coin"].to_numpy(dtype=object))
        if len(coins) != 1:
            raise ValueError(f"DayWindows.add takes one coin's windows, got {len(coins)} coins")
        coin = str(coins[0])
        for det, rows in positions_by(part["detector_id"].to_numpy(dtype=object)).items():
            self._parts.setdefault(str(det), []).append(
                (coin, {c: part[c].to_numpy()[rows] for c in self._data}))

    def ts_ms(self, detector_id: str) -> np.ndarray:
        """The detector's window times in the day's order."""
        parts = self._parts.get(detector_id, [])
        if not parts:
            return np.empty(0, dtype=np.int64)
        ts = np.concatenate([cols["ts_ms"] for _, cols in parts]).astype(np.int64, copy=False)
        return ts[self._order(parts, ts)]

    def of(self, detector_id: str) -> pd.DataFrame:
        """The detector's windows in the day's order, in `COLUMNS` (those the day had)."""
        parts = self._parts.get(detector_id, [])
        if not parts:
            return self._empty.copy()
        ts = np.concatenate([cols["ts_ms"] for _, cols in parts]).astype(np.int64, copy=False)
        order = self._order(parts, ts)
        coin = np.repeat(np.array([c for c, _ in parts], dtype=object),
                         [len(cols["ts_ms"]) for _, cols in parts])
        out = {}
        for c in self.columns:
            if c == "coin":
                out[c] = pd.array(coin[order], dtype=self._empty[c].dtype)
            elif c == "detector_id":
                out[c] = pd.array(np.full(len(ts), detector_id, dtype=object),
                                  dtype=self._empty[c].dtype)
            else:
                out[c] = np.concatenate([cols[c] for _, cols in parts])[order]
        return pd.DataFrame(out)

    @staticmethod
    def _order(parts: list[tuple[str, dict[str, np.ndarray]]], ts: np.ndarray) -> np.ndarray:
        """Stable (ts_ms, coin) order of the parts laid end to end (each coin's rows in its
        own order)."""
        names = sorted({c for c, _ in parts})
        rank = {c: i for i, c in enumerate(names)}
        coin = np.repeat(np.array([rank[c] for c, _ in parts], dtype=np.int64),
                         [len(cols["ts_ms"]) for _, cols in parts])
        return np.lexsort((coin, ts))

