"""The fixed grid and the only two ways data may reach it: as-of joins and interval bins.

Both use the recorder's clock (`recv_ts_ms`) and sorted arrays, so a value at grid time t can
only depend on data received at or before t. Every rolling statistic here runs forward over
the grid (pandas' sequential window kernels), so a prefix of the data gives a prefix of the
result, bit for bit — the property the no-look-ahead test checks.

Each batch rule has its step form beside it (the live tape's, one time or one grid point at
a time: `asof_stop`, `before_stop`, `interval_of`, `ratio_of`, `RollingPctl`, `RollingSum`,
`RollingMedian`), so the nightly build and the live tape read one definition.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import pandas as pd

NAN = float("nan")
TRIM = 4096
"""Consumed events a live list keeps before its front is cut off (the step's memory bound)."""


def grid_ceil(ts: Any, cadence_ms: int) -> Any:
    """The first grid time at or after `ts` (ints or int arrays): a grid's first point, and
    the end t of the interval (t - cadence, t] that holds `ts`."""
    return -(-ts // cadence_ms) * cadence_ms


def make_grid(first_ms: int, last_ms: int, cadence_ms: int) -> np.ndarray:
    """Epoch-aligned grid points from the first >= first_ms to the last <= last_ms."""
    start = grid_ceil(first_ms, cadence_ms)
    stop = (last_ms // cadence_ms) * cadence_ms
    if stop < start:
        return np.empty(0, dtype=np.int64)
    return np.arange(start, stop + cadence_ms, cadence_ms, dtype=np.int64)


ASOF_SIDE: Literal["left", "right"] = "right"
"""An event received at t is known at t: the as-of join's searchsorted side."""


def asof(event_ts: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Index of the last event received at or before each grid time (-1: none yet)."""
    return np.searchsorted(event_ts, grid, side=ASOF_SIDE) - 1


asof_stop = bisect_right  # ASOF_SIDE
"""`asof` of one time on a sorted list (the step's form): asof_stop(recv, t, lo) - 1 is the
last event received at or before t."""


def before(event_ts: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Index of the last event received strictly before each of `ts` (-1: none)."""
    return np.searchsorted(event_ts, ts, side="left") - 1


before_stop = bisect_left
"""`before` of one time on a sorted list (the step's form): before_stop(recv, t, lo) - 1 is
the last event received strictly before t."""


def take(values: np.ndarray, idx: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """`values[idx]` as float64, with `fill` where idx is -1 (nothing known yet)."""
    if len(values) == 0:
        return np.full(len(idx), fill, dtype=np.float64)
    out = np.asarray(values, dtype=np.float64)[np.maximum(idx, 0)]
    out[idx < 0] = fill
    return out


def interval_of(ts: Any, g0: Any, cadence_ms: int) -> Any:
    """Grid index k, counted from grid time g0, whose interval (t_k - cadence, t_k] holds
    `ts` (ints or int arrays; negative or past the grid's end: off it)."""
    return -((g0 - ts) // cadence_ms)


def interval_index(ts: np.ndarray, grid: np.ndarray, cadence_ms: int) -> np.ndarray:
    """Grid index k whose interval (t_k - cadence, t_k] holds each ts; -1 if off the grid."""
    if len(grid) == 0:
        return np.full(len(ts), -1, dtype=np.int64)
    k = interval_of(np.asarray(ts, dtype=np.int64), grid[0], cadence_ms)
    k[(k < 0) | (k >= len(grid))] = -1
    return k


def bin_sum(k: np.ndarray, weights: np.ndarray | None, n: int) -> np.ndarray:
    """Per-interval sums (counts if weights is None) of events with interval index k."""
    ok = k >= 0
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[ok]
    return np.bincount(k[ok], weights=w, minlength=n)[:n].astype(np.float64)


# ---------------------------------------------------------------- NaN and zero conventions


def safe_ratio(num: np.ndarray, den: np.ndarray, when_zero: float = np.nan) -> np.ndarray:
    """num / den, `when_zero` where den is 0, NaN where either is NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[den == 0] = when_zero
    return out


def ratio_of(num: float, den: float, when_zero: float = NAN) -> float:
    """`safe_ratio` of one point (Python floats)."""
    return when_zero if den == 0 else num / den


MAX_FLOAT = float(np.finfo(np.float64).max)


def div_of(a: float, b: float) -> float:
    """a / b as numpy divides float64s: inf or NaN for b == 0, no exception."""
    try:
        return a / b
    except ZeroDivisionError:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.float64(a) / b)


def nan_to_num_of(x: float) -> float:
    """`np.nan_to_num` of one float."""
    if x != x:
        return 0.0
    return x if -MAX_FLOAT <= x <= MAX_FLOAT else (MAX_FLOAT if x > 0 else -MAX_FLOAT)


# ---------------------------------------------------------------- trailing windows


def rolling_pctl(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Trailing percentile rank of each value in its own window (current value included).

    pctl = (rank - 1) / (count - 1) with average ranks over the non-NaN values of the
    window, so the window's minimum is 0, its maximum 1, ties share; 0.5 when count is 1.
    NaN where the value itself is NaN or fewer than `min_periods` values are present.
    `RollingPctl` below is its step form.
    """
    roll = pd.Series(x, dtype=np.float64).rolling(window, min_periods=min_periods)
    rank = roll.rank(method="average").to_numpy()
    count = roll.count().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count > 1, (rank - 1.0) / (count - 1.0), 0.5)
    out[np.isnan(rank) | np.isnan(np.asarray(x, dtype=np.float64))] = np.nan
    return np.clip(out, 0.0, 1.0)


class SortedBag:
    """A sorted multiset of floats in buckets (the layout of sortedcontainers, cut down):
    insert, remove and rank cost a few bisects and a short list move, whatever the size, so
    a 4 h window of 14,400 points stays cheap."""

    __slots__ = ("lists", "maxes", "load", "n")

    def __init__(self, load: int = 512) -> None:
        self.lists: list[list[float]] = []
        self.maxes: list[float] = []
        self.load, self.n = load, 0

    def add(self, x: float) -> None:
        lists, maxes = self.lists, self.maxes
        self.n += 1
        if not maxes:
            lists.append([x])
            maxes.append(x)
            return
        b = bisect_left(maxes, x)
        if b == len(maxes):
            b -= 1
            lists[b].append(x)
            maxes[b] = x
        else:
            insort(lists[b], x)
        lst = lists[b]
        if len(lst) > 2 * self.load:
            lists.insert(b + 1, lst[self.load:])
            del lst[self.load:]
            maxes.insert(b, lst[-1])

    def remove(self, x: float) -> None:
        """Remove one copy of x (which must be present)."""
        b = bisect_left(self.maxes, x)
        lst = self.lists[b]
        del lst[bisect_left(lst, x)]
        self.n -= 1
        if lst:
            self.maxes[b] = lst[-1]
        else:
            del self.lists[b], self.maxes[b]

    def add_run(self, x: float, k: int) -> None:
        """Add k copies of x (one list move; long buckets cut into `load`-sized ones)."""
        lists, maxes, load = self.lists, self.maxes, self.load
        self.n += k
        b = bisect_left(maxes, x)
        if b == len(maxes):
            if not maxes:
                lists.append([])
                maxes.append(x)
            b = len(maxes) - 1
            lists[b] += [x] * k
            maxes[b] = x
        else:
            lst = lists[b]
            i = bisect_left(lst, x)
            lst[i:i] = [x] * k
        lst = lists[b]
        if len(lst) > 2 * load:
            parts = [lst[j:j + load] for j in range(0, len(lst), load)]
            lists[b:b + 1] = parts
            maxes[b:b + 1] = [part[-1] for part in parts]

    def remove_run(self, x: float, k: int) -> None:
        """Remove k copies of x (which must be present), bucket by bucket."""
        lists, maxes = self.lists, self.maxes
        self.n -= k
        while k:
            b = bisect_left(maxes, x)
            lst = lists[b]
            i = bisect_left(lst, x)
            j = min(bisect_right(lst, x, i), i + k)
            del lst[i:j]
            k -= j - i
            if lst:
                maxes[b] = lst[-1]
            else:
                del lists[b], maxes[b]

    def replace(self, old: float, x: float) -> tuple[int, int]:
        """`remove(old)` then `insert(x)`: a full window's step, in one call."""
        maxes = self.maxes
        b = bisect_left(maxes, old)
        lst = self.lists[b]
        del lst[bisect_left(lst, old)]
        self.n -= 1
        if lst:
            maxes[b] = lst[-1]
        else:
            del self.lists[b], maxes[b]
        return self.insert(x)

    def insert(self, x: float) -> tuple[int, int]:
        """`add` then `counts` in one walk (the rank of a new value needs both): the bucket
        x went into already holds its position."""
        lists, maxes = self.lists, self.maxes
        n = self.n = self.n + 1
        if not maxes:
            lists.append([x])
            maxes.append(x)
            return 0, 1
        b = bisect_left(maxes, x)
        if b == len(maxes):  # above every value
            b -= 1
            lst = lists[b]
            lst.append(x)
            maxes[b] = x
            lo, hi = n - 1, n
        else:
            lst = lists[b]
            i = bisect_left(lst, x)
            lst.insert(i, x)
            before = sum(map(len, lists[:b])) if b else 0
            lo = before + i
            if maxes[b] > x:
                hi = before + bisect_right(lst, x, i)
            else:  # x is the bucket's max: its ties may go on in the next buckets
                b2 = bisect_right(maxes, x, b)
                hi = n if b2 == len(maxes) else (
                    before + sum(map(len, lists[b:b2])) + bisect_right(lists[b2], x))
        if len(lst) > 2 * self.load:
            lists.insert(b + 1, lst[self.load:])
            del lst[self.load:]
            maxes.insert(b, lst[-1])
        return lo, hi

    def counts(self, x: float) -> tuple[int, int]:
        """(number of values < x, number of values <= x)."""
        lists, maxes = self.lists, self.maxes
        b = bisect_left(maxes, x)
        if b == len(maxes):
            return self.n, self.n
        before = sum(map(len, lists[:b])) if b else 0
        lst = lists[b]
        lo = before + bisect_left(lst, x)
        if maxes[b] > x:
            return lo, before + bisect_right(lst, x)
        b2 = bisect_right(maxes, x)
        if b2 == len(maxes):
            return lo, self.n
        return lo, before + sum(map(len, lists[b:b2])) + bisect_right(lists[b2], x)


class RollingPctl:
    """`rolling_pctl` one grid point at a time: the window's last `window` points (NaN
    points hold a slot but are not ranked), the current value's average rank among the
    non-NaN ones, NaN below `min_periods` of them or when the value is NaN, 0.5 alone.

    A step series (funding, OI) repeats its value for rows on end: the counts below and at
    the last value are then carried through the point that left and the one that came, and
    the bag is not touched. The repeats (`held` copies of `held_x`) and the points that left
    meanwhile (`gone` copies of `gone_x`, a run of the window's oldest value) go into and out
    of the bag in one move each, when a new value needs a rank."""

    __slots__ = ("window", "min_periods", "values", "bag", "last", "below", "upto", "n",
                 "held_x", "held", "gone_x", "gone")

    def __init__(self, window: int, min_periods: int) -> None:
        self.window, self.min_periods = window, min_periods
        self.values: deque[float] = deque()
        self.bag = SortedBag()
        self.last, self.below, self.upto = NAN, 0, 0  # counts of < last and <= last
        self.n = 0  # non-NaN points in the window: bag.n + held - gone
        self.held_x, self.held = NAN, 0  # pushed, not in the bag yet
        self.gone_x, self.gone = NAN, 0  # out of the window, still in the bag

    def push(self, x: float) -> float:
        """The next point's percentile rank."""
        return self.extend((x,))[0]

    def extend(self, xs: Iterable[float]) -> list[float]:
        """The ranks of the next points, in order: one loop with the state in locals (a
        replay asks for ~1,000 rows at a time, a push per row would pay a call each)."""
        values, bag, window, min_periods = self.values, self.bag, self.window, self.min_periods
        last, below, upto, n = self.last, self.below, self.upto, self.n
        held, gone_x, gone = self.held, self.gone_x, self.gone
        out: list[float] = []
        append = out.append
        for x in xs:
            old = values.popleft() if len(values) == window else NAN
            values.append(x)
            if x == last:  # carried: x is not NaN
                if old != x:  # an equal value leaving changes nothing
                    if old == old:
                        if old == gone_x:
                            gone += 1
                        else:
                            if gone:
                                bag.remove_run(gone_x, gone)
                            gone_x, gone = old, 1
                        if old < x:
                            below -= 1
                            upto -= 1
                        n -= 1
                    held += 1
                    upto += 1
                    n += 1
            else:
                if held:
                    bag.add_run(self.held_x, held)
                    held = 0
                if gone:
                    bag.remove_run(gone_x, gone)
                    gone_x, gone = NAN, 0
                if x != x:
                    if old == old:
                        bag.remove(old)
                    last, n = NAN, bag.n
                    append(NAN)
                    continue
                if old == x:
                    below, upto = bag.counts(x)
                elif old == old:
                    below, upto = bag.replace(old, x)
                else:
                    below, upto = bag.insert(x)
                n, last, self.held_x = bag.n, x, x
            if n < min_periods:
                append(NAN)
            elif n == 1:
                append(0.5)
            else:  # rolling_pctl's (average rank - 1) / (count - 1), clipped to [0, 1]
                q = (below + (upto - below + 1) / 2 - 1.0) / (n - 1.0)
                append(0.0 if q < 0.0 else 1.0 if q > 1.0 else q)
        self.last, self.below, self.upto, self.n = last, below, upto, n
        self.held, self.gone_x, self.gone = held, gone_x, gone
        return out


def rolling_sum(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Trailing sum over `window` grid points (NaN until `min_periods` values exist);
    `RollingSum` below is its step form."""
    roll = pd.Series(x, dtype=np.float64).rolling(window, min_periods=min_periods)
    return roll.sum().to_numpy()


class RollingSum:
    """`rolling_sum` one grid point at a time, bit for bit.

    pandas' fixed-window sum is a running sum with Kahan compensation (one term for adds,
    one for removes) and a run-of-equal-values rule, so its last bits depend on every
    value since the series began, not only on the window: a sum recomputed from a later
    start can differ in the last place, which flips ties of the rv percentile. The live
    tape carries this state instead (the same arithmetic as pandas 2-3's `roll_sum`, its
    state in slots and locals: the tape pushes three per row;
    tests/core/microtape/test_rolling_stream.py checks it equals `rolling_sum`)."""

    __slots__ = ("window", "min_periods", "values", "nobs", "total", "comp_add",
                 "comp_remove", "same", "prev")

    def __init__(self, window: int, min_periods: int) -> None:
        self.window, self.min_periods = window, min_periods
        self.values: deque[float] = deque()
        self.nobs = self.same = 0
        self.total = self.comp_add = self.comp_remove = 0.0
        self.prev: float | None = None

    def push(self, value: float) -> float:
        """Append the next point; the trailing sum at it."""
        return self.extend((value,))[0]

    def extend(self, points: Iterable[float]) -> list[float]:
        """The trailing sums at the next points (Python floats), in order."""
        values, window, min_periods = self.values, self.window, self.min_periods
        total, nobs, same, prev = self.total, self.nobs, self.same, self.prev
        comp_add, comp_remove = self.comp_add, self.comp_remove
        out: list[float] = []
        append = out.append
        for value in points:
            if prev is None:
                prev = value
            if len(values) == window:
                old = values.popleft()
                if old == old:
                    nobs -= 1
                    y = -old - comp_remove
                    t = total + y
                    comp_remove = t - total - y
                    total = t
            if value == value:
                nobs += 1
                y = value - comp_add
                t = total + y
                comp_add = t - total - y
                total = t
                same = same + 1 if value == prev else 1
                prev = value
            values.append(value)
            if nobs >= min_periods:
                append(0.0 if nobs == 0 else prev * nobs if same >= nobs else total)
            else:
                append(NAN)
        self.total, self.nobs, self.same, self.prev = total, nobs, same, prev
        self.comp_add, self.comp_remove = comp_add, comp_remove
        return out


def rolling_median(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Trailing median over `window` grid points, skipping NaN; `RollingMedian` below is its
    step form."""
    roll = pd.Series(x, dtype=np.float64).rolling(window, min_periods=min_periods)
    return roll.median().to_numpy()


class RollingMedian:
    """`rolling_median` one grid point at a time: the window's non-NaN values kept sorted
    (bisect), so a point costs O(log w) compares and one short memmove. A median is a
    selection, not a sum, so it equals pandas' skiplist value exactly (the mean of the two
    middle values for an even count); tests/core/microtape/test_microtape_book.py checks it."""

    def __init__(self, window: int, min_periods: int) -> None:
        self.window, self.min_periods = window, max(min_periods, 1)
        self.values: deque[float] = deque()
        self.sorted: list[float] = []

    def push(self, value: float) -> float:
        """Append the next point; the trailing median at it (NaN below `min_periods`)."""
        values, ordered = self.values, self.sorted
        if len(values) == self.window:
            old = values.popleft()
            if old == old:
                del ordered[bisect_left(ordered, old)]
        values.append(value)
        if value == value:
            insort(ordered, value)
        n = len(ordered)
        if n < self.min_periods:
            return float("nan")
        h = n >> 1
        return ordered[h] if n & 1 else (ordered[h - 1] + ordered[h]) / 2
