"""Per-row forms of the pandas window statistics the DSI batch code uses, equal bit for bit.

`DsiStream` feeds one value a row and reads the statistic the batch reads at that row:

    Kahan(w)       Series.rolling(w, min_periods).mean() / .sum()   (pandas' Kahan sums)
    Median(w)      Series.rolling(w, min_periods).median()          (sorted list + bisect)
    Extremes(w)    Series.rolling(w, min_periods).max() / .min()    (monotonic deques)
    Ewm(com, ...)  Series.ewm(com=..., adjust=False, ignore_na=...).mean()
    Lag(k)         features.lag / grammar._shift                    (NaN until k rows)

Exactness, not just closeness: the grammar and divergence experts compare these values
against thresholds, so each class repeats the pinned pandas' own arithmetic
(window/aggregations.pyx) in the same order, quirks included (the run of equal values in
a rolling mean, the weight rule at com == 1). Like pandas' rolling and ewm
(`_prep_values`), +-inf inputs count as missing. tests/core/live/test_stream_dsi.py checks
every class against pandas, bit for bit, on random series with NaN, inf and constant runs.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from math import copysign

NAN = float("nan")


def com_of(span: float | None = None, alpha: float | None = None) -> float:
    """pandas' centre of mass for `ewm(span=...)` or `ewm(alpha=...)` (get_center_of_mass)."""
    if span is not None:
        return float((span - 1) / 2)
    if alpha is None:
        raise ValueError("ewm: need span or alpha")
    return float((1 - alpha) / alpha)


class Kahan:
    """roll_mean / roll_sum of a fixed trailing window: pandas' Kahan add and remove
    (separate compensations), its sign count and its run of equal values (a window of one
    repeated value returns exactly that value)."""

    __slots__ = ("buf", "ca", "cr", "neg", "nobs", "prev", "same", "sum", "w")

    def __init__(self, window: int) -> None:
        self.w = window
        self.buf: deque[float] = deque(maxlen=window)
        self.nobs = 0
        self.sum = 0.0
        self.ca = 0.0
        self.cr = 0.0
        self.neg = 0
        self.same = 0
        self.prev = NAN

    def push(self, x: float) -> None:
        buf = self.buf
        s = self.sum
        if len(buf) == self.w:  # pandas removes the leaving value first, then adds
            old = buf[0]
            if old == old:
                self.nobs -= 1
                y = -old - self.cr
                t = s + y
                self.cr = t - s - y
                s = t
                if old < 0.0 or (old == 0.0 and copysign(1.0, old) < 0.0):
                    self.neg -= 1
        if x - x == 0.0:
            buf.append(x)
            self.nobs += 1
            y = x - self.ca
            t = s + y
            self.ca = t - s - y
            s = t
            if x < 0.0 or (x == 0.0 and copysign(1.0, x) < 0.0):
                self.neg += 1
            if x == self.prev:
                self.same += 1
            else:
                self.same = 1
            self.prev = x
        else:  # NaN or inf: missing
            buf.append(NAN)
        self.sum = s

    def mean(self, minp: int) -> float:
        nobs = self.nobs
        if nobs >= minp and nobs > 0:
            if self.same >= nobs:
                return self.prev
            r = self.sum / nobs
            if r < 0 and self.neg == 0:
                return 0.0
            if r > 0 and self.neg == nobs:
                return 0.0
            return r
        return NAN

    def push_mean(self, x: float, minp: int) -> float:
        self.push(x)
        return self.mean(minp)

    def total(self, minp: int) -> float:
        nobs = self.nobs
        if nobs == 0 == minp:
            return 0.0
        if nobs >= minp:
            return self.prev * nobs if self.same >= nobs else self.sum
        return NAN


class Median:
    """roll_median_c: the middle of the window's non-missing values (mean of the two
    middles when their count is even)."""

    __slots__ = ("buf", "sorted", "w")

    def __init__(self, window: int) -> None:
        self.w = window
        self.buf: deque[float] = deque(maxlen=window)
        self.sorted: list[float] = []

    def push(self, x: float) -> None:
        buf = self.buf
        if len(buf) == self.w:
            old = buf[0]
            if old == old:
                s = self.sorted
                del s[bisect_left(s, old)]
        if x - x != 0.0:
            buf.append(NAN)
            return
        buf.append(x)
        insort(self.sorted, x)

    def median(self, minp: int) -> float:
        s = self.sorted
        n = len(s)
        if n < minp or n == 0:
            return NAN
        mid = n >> 1
        if n & 1:
            return s[mid]
        return (s[mid] + s[mid - 1]) / 2


class Extremes:
    """roll_max and roll_min of one window (either or both): monotonic deques of
    (row, value) over the non-missing values; NaN below min_periods."""

    __slots__ = ("highs", "lows", "missing", "t", "w")

    def __init__(self, window: int, high: bool = True, low: bool = True) -> None:
        self.w = window
        self.t = -1
        self.highs: deque[tuple[int, float]] | None = deque() if high else None
        self.lows: deque[tuple[int, float]] | None = deque() if low else None
        self.missing: deque[int] = deque()  # rows of missing values in the window

    def track(self, high: bool = False, low: bool = False) -> None:
        """Also keep the other extreme (before the first push)."""
        if high and self.highs is None:
            self.highs = deque()
        if low and self.lows is None:
            self.lows = deque()

    def push(self, x: float) -> None:
        self.t = t = self.t + 1
        gone = t - self.w
        miss = self.missing
        if miss and miss[0] <= gone:
            miss.popleft()
        finite = x - x == 0.0
        if not finite:
            miss.append(t)
        dq = self.highs
        if dq is not None:
            if dq and dq[0][0] <= gone:
                dq.popleft()
            if finite:
                while dq and dq[-1][1] <= x:
                    dq.pop()
                dq.append((t, x))
        dq = self.lows
        if dq is not None:
            if dq and dq[0][0] <= gone:
                dq.popleft()
            if finite:
                while dq and dq[-1][1] >= x:
                    dq.pop()
                dq.append((t, x))

    def _ok(self, minp: int) -> bool:
        nobs = min(self.t + 1, self.w) - len(self.missing)
        return nobs >= minp and nobs > 0

    def high(self, minp: int) -> float:
        return self.highs[0][1] if self._ok(minp) else NAN  # type: ignore[index]

    def low(self, minp: int) -> float:
        return self.lows[0][1] if self._ok(minp) else NAN  # type: ignore[index]


class Ewm:
    """aggregations.ewm with adjust=False, min_periods=1: a missing row leaves the mean and
    (ignore_na=False) ages the old weight, or (ignore_na=True) is skipped. At com == 1
    pandas weighs a new value by 1 - old weight (its irregular-interval rule)."""

    __slots__ = ("com1", "factor", "ignore_na", "new", "old", "weighted")

    def __init__(self, com: float, ignore_na: bool) -> None:
        alpha = 1.0 / (1.0 + com)
        self.factor = 1.0 - alpha
        self.new = alpha
        self.com1 = com == 1
        self.ignore_na = ignore_na
        self.weighted = NAN
        self.old = 1.0

    def push(self, x: float) -> float:
        w = self.weighted
        obs = x - x == 0.0
        if w == w:
            if obs:
                self.old *= self.factor
                if w != x:
                    old = self.old
                    new = 1.0 - old if self.com1 else self.new
                    self.weighted = (old * w + new * x) / (old + new)
                self.old = 1.0
            elif not self.ignore_na:
                self.old *= self.factor
        elif obs:
            self.weighted = x
        return self.weighted


class Lag:
    """x delayed by k rows (NaN for the first k): features.lag and grammar._shift."""

    __slots__ = ("buf", "k")

    def __init__(self, k: int) -> None:
        self.k = k
        self.buf: deque[float] = deque(maxlen=k + 1)

    def push(self, x: float) -> float:
        buf = self.buf
        buf.append(x)
        return buf[0] if len(buf) > self.k else NAN


Window = Kahan | Median | Extremes
Windows = dict[tuple[str, str, int], Window]
"""One coin's windows over MicroTape columns, keyed (kind, column, size): every reader of
the same statistic shares one window, pushed once a row by its owner (DsiStream)."""


def window(windows: Windows, kind: str, col: str, size: int) -> Window:
    """The window of `kind` ("kahan", "median" or "extremes") over `col`: made on first
    use, then shared (an Extremes keeps the sides its readers `track`)."""
    key = (kind, col, size)
    w = windows.get(key)
    if w is None:
        w = windows[key] = (Kahan(size) if kind == "kahan" else Median(size)
                            if kind == "median" else Extremes(size, high=False, low=False))
    return w
