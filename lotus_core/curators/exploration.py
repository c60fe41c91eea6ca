"""The exploration cap: detectors whose spec says `status: exploration` (bred, not yet
vetted) make at most `exploration_detectors.max_share` of each coin's publications of the
day. One rule, `ExplorationCap.admit`, asked for every window the policy would publish, in
the day's window order ((ts_ms, coin, detector_id): the nightly batch loops over them, the
live step asks as each row arrives), so both paths cap the same windows.

    publish an exploration window  <=>  (e + 1) <= max_share * (p + 1)

with p the coin's publications so far that day and e those from exploration detectors. Per
coin, because a coin's windows reach the live step in time order while the coins of a day
interleave as their feeds arrive; each coin's share, and so the day's, stays within the
cap at every moment. A capped window is the diversity curator's veto `exploration_cap`
(never published, propensity 0): the publication policy's identities hold unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from lotus_core.signals.spec import DetectorSpec

EXPLORATION = "exploration"
CAP_CURATOR, CAP_REASON = "diversity", "exploration_cap"


def exploration_ids(specs: Iterable[DetectorSpec]) -> frozenset[str]:
    """The detectors under the cap."""
    return frozenset(s.id for s in specs if s.status == EXPLORATION)


class ExplorationCap:
    """Per coin: publications so far and those from exploration detectors."""

    __slots__ = ("_counts", "max_share")

    def __init__(self, max_share: float) -> None:
        self.max_share = float(max_share)
        self._counts: dict[str, list[int]] = {}

    def admit(self, coin: str, exploration: bool) -> bool:
        """Whether a window the policy would publish stays published; counts it if so."""
        n = self._counts.get(coin)
        if n is None:
            n = self._counts[coin] = [0, 0]
        if exploration and n[1] + 1 > self.max_share * (n[0] + 1):
            return False
        n[0] += 1
        n[1] += exploration
        return True


def capped(coin: np.ndarray, detector_id: np.ndarray, published: np.ndarray,
           explore: frozenset[str], max_share: float) -> np.ndarray:
    """The windows the cap withholds (windows in the day's order)."""
    out = np.zeros(len(published), dtype=bool)
    if not explore:
        return out
    cap = ExplorationCap(max_share)
    for i in np.flatnonzero(published):
        if not cap.admit(str(coin[i]), str(detector_id[i]) in explore):
            out[i] = True
    return out
