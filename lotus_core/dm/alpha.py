"""What the DM reads from a published signal, whether it came from the lake or the fabric.

Nightly the DM reads `signal_events` rows; live it reads the sigbus-1.0.0 document inside
an ALPHA_PROPOSED envelope. Both become the same `AlphaEvent`, so the same decision
follows from the same signal either way (the parity test compares the two paths).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

META_KEYS = ("ms_kairos", "ms_entrain_r", "ms_asym_score")
ALPHA_COLUMNS = ["window_id", "ts_ms", "coin", "detector_id", "horizon_s", "signal",
                 "curated_sigma", "published", *META_KEYS]
"""The signal_events columns `from_signal_events` reads: the DM step reads only these
(12 of the table's 75)."""


class AlphaError(ValueError):
    """A signal the DM cannot use; the message names the field."""


@dataclass(frozen=True)
class AlphaEvent:
    """One published signal: who said what about which coin, when, how strongly."""

    alpha_id: str  # the signal's strand id (= signal_events.window_id)
    ts_ms: int  # as-of time
    coin: str
    detector_id: str
    horizon_s: int  # the detector's own horizon
    direction: int  # +1 long, -1 short, 0 no direction (contributes no edge)
    curated_sigma: float
    meta: tuple[tuple[str, float], ...]  # (ms_kairos, ms_entrain_r, ms_asym_score) values

    def meta_value(self, key: str) -> float:
        return dict(self.meta).get(key, math.nan)


def _horizon_s(text: str) -> int:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    for suffix in ("ms", "s", "m", "h", "d", "w"):
        if text.endswith(suffix) and text[: -len(suffix)].isdigit():
            return max(1, int(int(text[: -len(suffix)]) * units[suffix]))
    raise AlphaError(f"horizon {text!r} is not like 30s, 5m, 1h")


def iso_to_ms(ts: str) -> int:
    """RFC 3339 (as sigbus asof_ts) to epoch milliseconds."""
    try:
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError as e:
        raise AlphaError(f"asof_ts {ts!r} is not RFC 3339") from e
    if dt.tzinfo is None:
        raise AlphaError(f"asof_ts {ts!r} has no UTC offset")
    return int(round(dt.timestamp() * 1000))


def ms_to_iso(ts_ms: int) -> str:
    """Epoch milliseconds to RFC 3339 UTC with milliseconds (2026-01-02T12:00:05.000Z)."""
    dt = datetime.fromtimestamp(ts_ms / 1000.0, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


def _direction(signal: float, field: str) -> int:
    """The sign of the standardised intent; 0 (no direction) makes an alpha without edge."""
    if not math.isfinite(signal):
        raise AlphaError(f"{field} must be a finite number, got {signal!r}")
    return (signal > 0) - (signal < 0)


def from_sigbus(payload: Mapping[str, Any]) -> AlphaEvent:
    """An ALPHA_PROPOSED payload ({"sigbus": doc, "strand_id": id}) as an AlphaEvent."""
    try:
        doc = payload["sigbus"]
        gates = doc["eligibility"]["gates"]
        return AlphaEvent(
            alpha_id=str(payload["strand_id"]),
            ts_ms=iso_to_ms(doc["asof_ts"]),
            coin=str(doc["symbol"]),
            detector_id=str(doc["detector_id"]),
            horizon_s=_horizon_s(str(doc["horizon"])),
            direction=_direction(float(doc["signal"]), "sigbus.signal"),
            curated_sigma=float(doc["curated_sigma"]),
            meta=tuple((k, float(gates.get(k, math.nan))) for k in META_KEYS),
        )
    except KeyError as e:
        raise AlphaError(f"ALPHA_PROPOSED payload lacks {e.args[0]!r}") from None


def from_signal_events(events: pd.DataFrame) -> list[AlphaEvent]:
    """The published windows of a `signal_events` frame, in time order, as AlphaEvents."""
    pub = events[events["published"].astype(bool)]
    pub = pub.sort_values(["ts_ms", "coin", "detector_id"], kind="stable")
    out = []
    for row in pub.itertuples(index=False):
        out.append(AlphaEvent(
            alpha_id=str(row.window_id), ts_ms=int(row.ts_ms), coin=str(row.coin),
            detector_id=str(row.detector_id), horizon_s=int(row.horizon_s),
            direction=_direction(float(row.signal), "signal_events.signal"),
            curated_sigma=float(row.curated_sigma),
            meta=tuple((k, float(getattr(row, k))) for k in META_KEYS),
        ))
    return out


class AlphaSlots(ABC):
    """A day's published alphas in the DM's order as the replay asks for them: `times`
    (each alpha's ts_ms, up front: the replay's decision slots) and `at(i)`."""

    times: np.ndarray

    @abstractmethod
    def at(self, i: int) -> AlphaEvent: ...


class AlphaList(AlphaSlots):
    """Alphas held as a list (already in the DM's order: `replay.alpha_order`)."""

    def __init__(self, alphas: Sequence[AlphaEvent]) -> None:
        self._alphas = alphas
        self.times = np.array([a.ts_ms for a in alphas], dtype=np.int64)

    def at(self, i: int) -> AlphaEvent:
        return self._alphas[i]


class PublishedAlphas(AlphaSlots):
    """The published windows of a day's `signal_events` read from the lake a slice at a
    time, never the day's alphas at once (at 100 coins a day has ~70,000): the
    table is sorted by (ts_ms, coin, detector_id), the DM's order, so a first pass over two
    columns gives the slots (8 bytes an alpha) and the AlphaEvents are made as the replay
    reaches them (`at(i)` with i ascending; asking for an earlier one is an error)."""

    def __init__(self, slices: Callable[[list[str]], Iterable[pd.DataFrame]]) -> None:
        parts = [s.loc[s["published"].astype(bool).to_numpy(), "ts_ms"].to_numpy(np.int64)
                 for s in slices(["ts_ms", "published"])]
        self.times = np.concatenate(parts) if parts else np.empty(0, np.int64)
        if len(self.times) > 1 and bool((np.diff(self.times) < 0).any()):
            raise AlphaError("signal_events is not in time order: its published windows "
                             "cannot be streamed in the DM's order")
        self._events: Iterator[AlphaEvent] = (
            a for s in slices(ALPHA_COLUMNS) for a in from_signal_events(s))
        self._made = -1
        self._current: AlphaEvent | None = None

    def __len__(self) -> int:
        return len(self.times)

    def at(self, i: int) -> AlphaEvent:
        if i < self._made:
            raise IndexError(f"alpha {i} asked for after alpha {self._made}: the published "
                             "alphas are read once, in order")
        while self._made < i:
            self._current = next(self._events, None)
            if self._current is None:
                raise AlphaError(f"alpha {i}: signal_events has fewer published windows "
                                 "than its first read found (changed while it was read)")
            self._made += 1
        if self._current is None or self._current.ts_ms != int(self.times[i]):
            raise AlphaError(f"alpha {i}: signal_events changed while it was read")
        return self._current
