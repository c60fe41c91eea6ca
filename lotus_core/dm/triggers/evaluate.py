"""Evaluate a trigger over MicroTape rows, one row at a time, never looking ahead.

`TriggerState` is all the evaluator remembers, updated by `update(row)`:

- the last ``max_lookback(expr)`` mid prices before the current row (a ring buffer),
- the previous row's mid and ts_ms,
- the range the latest breakout broke out of (its high, low and direction),
- per leaf: the ts_ms of its latest firing (leaves are events; once fired they stay
  "occurred" with that time), for retests whether price has left the tolerance band, for
  breakouts whether the previous row was already outside the band (a breakout fires on
  the row price leaves the band, not on every row it stays out).

A row is read only for ``ts_ms``, ``mid_px``, ``bid_px`` and ``ask_px`` (a Mapping, e.g. a
dict or ``df.iloc[i]``). Rows must come in strictly increasing ts_ms; a row whose mid is
missing (NaN/None) changes nothing. The trigger fires on the first row at which the whole
expression is satisfied and stays fired. Because the state after row t depends only on
rows ≤ t, evaluating a prefix gives exactly the first results of evaluating the whole.

Combinators over "occurred" events: ``A AND B`` holds once both have occurred;
``A OR B`` once either has; ``X WITHIN T`` holds while the events that make X hold (the
latest occurrence of each) all lie within T ms of the current row.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lotus_core.dm.triggers.tree import (
    DEFAULT_LOOKBACK,
    And,
    Breakout,
    Cross,
    Expr,
    Leaf,
    Level,
    Or,
    Price,
    Retest,
    Touch,
    Within,
    leaves,
    max_lookback,
)


class TriggerRowError(ValueError):
    """A row the evaluator cannot use (missing column, time going backwards)."""


@dataclass(frozen=True)
class TriggerStatus:
    """The trigger after a row: armed (waiting) or fired, with when and at what price."""

    status: str  # "armed" | "fired"
    fired_ts_ms: int | None = None
    fired_px: float | None = None
    rows_seen: int = 0

    @property
    def fired(self) -> bool:
        return self.status == "fired"


@dataclass
class _LeafState:
    last_ts: int | None = None  # latest firing
    away: bool = False  # retest: price left the tolerance band; breakout: last row was outside


@dataclass
class TriggerState:
    """Causal evaluator state for one trigger on one coin (see the module docstring)."""

    expr: Expr
    mids: deque[float] = field(init=False)
    prev_mid: float | None = None
    prev_ts: int | None = None
    range_high: float | None = None  # of the latest breakout's lookback rows
    range_low: float | None = None
    broke: str | None = None  # "up" | "down"
    fired_ts_ms: int | None = None
    fired_px: float | None = None
    rows_seen: int = 0
    _leaves: list[Leaf] = field(init=False)
    _leaf_state: list[_LeafState] = field(init=False)

    def __post_init__(self) -> None:
        self.mids = deque(maxlen=max_lookback(self.expr))
        self._leaves = leaves(self.expr)
        self._leaf_state = [_LeafState() for _ in self._leaves]

    # -- public ---------------------------------------------------------------------------
    def status(self) -> TriggerStatus:
        if self.fired_ts_ms is None:
            return TriggerStatus("armed", rows_seen=self.rows_seen)
        return TriggerStatus("fired", self.fired_ts_ms, self.fired_px, self.rows_seen)

    def update(self, row: Mapping[str, Any]) -> TriggerStatus:
        """Advance by one row (this row and earlier ones only) and say whether it fired."""
        ts, mid, bid, ask = _read(row)
        if self.prev_ts is not None and ts <= self.prev_ts:
            raise TriggerRowError(f"rows must have increasing ts_ms: {ts} after {self.prev_ts}")
        self.rows_seen += 1
        if mid is None:
            return self.status()
        # Breakouts first, so a retest on the same row sees the range broken on this row.
        for leaf, st in zip(self._leaves, self._leaf_state, strict=True):
            if isinstance(leaf, Breakout) and self._breakout(leaf, st, mid):
                st.last_ts = ts
        for leaf, st in zip(self._leaves, self._leaf_state, strict=True):
            if not isinstance(leaf, Breakout) and self._fires(leaf, st, mid, bid, ask):
                st.last_ts = ts
        if self.fired_ts_ms is None and self._holds(self.expr, ts, iter(self._leaf_state)) \
                is not None:
            self.fired_ts_ms, self.fired_px = ts, mid
        self.mids.append(mid)
        self.prev_mid, self.prev_ts = mid, ts
        return self.status()

    # -- leaves ---------------------------------------------------------------------------
    def _breakout(self, b: Breakout, st: _LeafState, mid: float) -> bool:
        """Fires on the first row outside the band; the rows that stay outside do not
        fire again (nor move the broken range) until price has come back inside."""
        if len(self.mids) < b.lookback:
            return False
        window = list(self.mids)[-b.lookback:]
        mean = math.fsum(window) / len(window)
        sd = math.sqrt(math.fsum((x - mean) ** 2 for x in window) / len(window))
        up = mid > mean + b.k * sd and b.direction in ("up", "any")
        down = mid < mean - b.k * sd and b.direction in ("down", "any")
        outside = up or down
        fires = outside and not st.away
        st.away = outside
        if fires:
            self.range_high, self.range_low = max(window), min(window)
            self.broke = "up" if up else "down"
        return fires

    def _level(self, level: Level) -> float | None:
        if isinstance(level, Price):
            return level.value
        name = level.name
        if name == "broken":
            if self.broke is None:
                return None
            return self.range_high if self.broke == "up" else self.range_low
        if self.broke is not None:
            return self.range_high if name == "prev_high" else self.range_low
        recent = list(self.mids)[-DEFAULT_LOOKBACK:]
        if not recent:
            return None
        return max(recent) if name == "prev_high" else min(recent)

    def _fires(self, leaf: Leaf, st: _LeafState, mid: float, bid: float, ask: float) -> bool:
        if isinstance(leaf, Retest):
            level = self._level(leaf.level)
            if level is None:
                return False
            near = abs(mid - level) <= leaf.tol * level
            if not near:
                st.away = True
                return False
            if st.away:
                st.away = False
                return True
            return False
        if isinstance(leaf, Touch):
            level = self._level(leaf.level)
            return level is not None and bid * (1 - leaf.tol) <= level <= ask * (1 + leaf.tol)
        if isinstance(leaf, Cross):
            level = self._level(leaf.level)
            if level is None or self.prev_mid is None:
                return False
            up = self.prev_mid < level <= mid
            down = self.prev_mid > level >= mid
            return (up and leaf.direction != "down") or (down and leaf.direction != "up")
        raise TypeError(f"not a leaf: {leaf!r}")

    # -- combinators ----------------------------------------------------------------------
    def _holds(self, e: Expr, now: int, states: Any) -> int | None:
        """The earliest event time of the latest satisfying set, or None if e does not hold.

        `states` yields the leaf states in print order (the order `leaves` lists them).
        """
        if isinstance(e, And):
            a, b = self._holds(e.left, now, states), self._holds(e.right, now, states)
            return None if a is None or b is None else min(a, b)
        if isinstance(e, Or):
            a, b = self._holds(e.left, now, states), self._holds(e.right, now, states)
            present = [x for x in (a, b) if x is not None]
            return max(present) if present else None
        if isinstance(e, Within):
            start = self._holds(e.expr, now, states)
            return start if start is not None and now - start <= e.window_ms else None
        st: _LeafState = next(states)
        return st.last_ts


def _read(row: Mapping[str, Any]) -> tuple[int, float | None, float, float]:
    try:
        ts_raw, mid_raw = row["ts_ms"], row["mid_px"]
    except KeyError as e:
        raise TriggerRowError(f"MicroTape row lacks column {e.args[0]!r}") from None
    if ts_raw is None or (isinstance(ts_raw, float) and math.isnan(ts_raw)):
        raise TriggerRowError("MicroTape row has no ts_ms")
    ts = int(ts_raw)
    if mid_raw is None or not math.isfinite(float(mid_raw)) or float(mid_raw) <= 0:
        return ts, None, math.nan, math.nan
    mid = float(mid_raw)
    bid = _num_or(row.get("bid_px"), mid)
    ask = _num_or(row.get("ask_px"), mid)
    return ts, mid, bid, ask


def _num_or(value: Any, default: float) -> float:
    if value is None:
        return default
    x = float(value)
    return x if math.isfinite(x) and x > 0 else default


def evaluate_trigger(expr: Expr, rows: Iterable[Mapping[str, Any]]) -> list[bool]:
    """Whether the trigger had fired after each row (a convenience over TriggerState)."""
    state = TriggerState(expr)
    return [state.update(row).fired for row in rows]


def first_fire(expr: Expr, rows: Iterable[Mapping[str, Any]]) -> TriggerStatus:
    """Feed rows until the trigger fires; the status at that row (or after the last row)."""
    state = TriggerState(expr)
    status = state.status()
    for row in rows:
        status = state.update(row)
        if status.fired:
            break
    return status

