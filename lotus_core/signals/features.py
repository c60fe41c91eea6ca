"""Causal helpers for one coin's MicroTape: every value at row t uses rows <= t.

The MicroTape grid is continuous per coin (one row per cadence), so a window of w seconds is
w * 1000 / cadence rows. One definition per helper: the array function (the nightly batch
over a coin's slice: a compiled kernel in lotus_core/row_kernels.py, equal bit for bit to
the pandas / numpy form it replaced) and, where the live detectors need it per row
(`DetectorStream`), its step class right below it, reading the same window and NaN rule.
The step classes stay plain Python: a compiled call from Python costs ~0.8 us, five times
a row's `Ewm.push`. Tested equal through the detectors:
tests/core/signals/test_signals_detectors.py; kernels vs their former forms:
tests/core/signals/test_feature_kernels.py.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pandas as pd

from lotus_core.filters import ewm_com

NAN = math.nan
INF = math.inf
BPS = 1e4  # log_bps units per unit of ln(price)
# numpy's log on one value: the batch's (possibly SIMD) loop, not libm's `math.log`, which
# differs in the last bit on some CPUs (AVX-512): a firing threshold sees one value.
_NP_LOG = np.log


def coin_blocks(coins: np.ndarray) -> list[tuple[str, int, int]]:
    """(coin, start, stop) of each contiguous block (the MicroTape is sorted by coin, ts)."""
    n = len(coins)
    if n == 0:
        return []
    cut = np.flatnonzero(coins[1:] != coins[:-1]) + 1
    starts = np.r_[0, cut]
    stops = np.r_[cut, n]
    return [(str(coins[a]), int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def cadence_ms(ts_ms: np.ndarray, coins: np.ndarray) -> int:
    """The grid step: the smallest positive step between consecutive rows of one coin."""
    if len(ts_ms) < 2:
        return 1000
    d = np.diff(ts_ms)
    same = coins[1:] == coins[:-1]
    steps = d[same & (d > 0)]
    return int(steps.min()) if len(steps) else 1000


def rows(seconds: float, cadence: int) -> int:
    """How many grid rows `seconds` spans (at least 1)."""
    return max(1, int(round(seconds * 1000.0 / cadence)))


def log_bps(px: np.ndarray) -> np.ndarray:
    """ln(price) in bps: differences are bps moves. Absolute, not relative to the slice's
    first price, so a row's value (and every tie between rows) is the same wherever the
    tape starts: a window computed on a trailing slice equals the one on the whole day."""
    return np.log(np.asarray(px, dtype=np.float64)) * BPS


def log_bps_one(px: float) -> float:
    """`log_bps` of one price (-inf at 0, NaN below or at NaN, as np.log without its warning)."""
    return float(_NP_LOG(px)) * BPS if px > 0.0 else (-INF if px == 0.0 else NAN)


# ---- EMA: the batch form is `lotus_core.filters.ewm` (pandas' recursion, compiled) ----


def ewm_alpha(span: float | None = None, alpha: float | None = None) -> float:
    """The alpha pandas' ewm really uses: 1 / (1 + com), com from span or alpha as in
    pandas' get_center_of_mass (not exactly 2 / (span + 1) or `alpha` in floats)."""
    return 1.0 / (1.0 + ewm_com(span, alpha))


class Ewm:
    """`filters.ewm` one value at a time: pandas' adjust=False recursion with ignore_na,
    including its division by (old + new weight), its skip on an unchanged value and its
    reading of +-inf as a missing value."""

    __slots__ = ("a", "b", "den", "m")

    def __init__(self, alpha: float) -> None:
        self.a = alpha
        self.b = 1.0 - alpha
        self.den = self.b + alpha
        self.m = NAN

    def push(self, v: float) -> float:
        if v - v != 0.0:  # NaN or +-inf: pandas' ewm (and the batch kernel) read inf as NaN
            v = NAN
        m = self.m
        if m == m:
            if v == v and m != v:
                m = self.m = (self.b * m + self.a * v) / self.den
        elif v == v:
            m = self.m = v
        return m


def _extreme(x: np.ndarray, w: int, lag: int, is_max: bool) -> np.ndarray:
    """max (or min) of x over rows [t - lag - w + 1, t - lag], as pandas' `shift(lag)
    .rolling(w, min_periods=w)`: NaN until the window is full or while a NaN or +-inf is in
    it. Compiled (lotus_core.row_kernels)."""
    from lotus_core.row_kernels import rolling_extreme  # numba: on first use

    if w < 1:
        raise ValueError(f"window must be >= 1 rows, got {w}")
    v = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty(len(v))
    rolling_extreme(v, int(w), lag, is_max, out)
    return out


def prev_max(x: np.ndarray, w: int) -> np.ndarray:
    """max of x over rows [t - w, t - 1]; NaN until w earlier rows exist."""
    return _extreme(x, w, 1, True)


def prev_min(x: np.ndarray, w: int) -> np.ndarray:
    """min of x over rows [t - w, t - 1]; NaN until w earlier rows exist."""
    return _extreme(x, w, 1, False)


class PrevExtremes:
    """`prev_max` and `prev_min` (rows [t - w, t - 1]) one row at a time: monotonic deques of
    (row, value). NaN until w earlier rows exist or while a NaN (or +-inf, which pandas'
    rolling reads as NaN) is among them (pandas' min_periods=w counts non-NaN rows)."""

    __slots__ = ("w", "t", "last_nan", "hq", "lq", "hi", "lo")

    def __init__(self, w: int) -> None:
        self.w = w
        self.t = 0
        self.last_nan = -(1 << 62)
        self.hq: deque[tuple[int, float]] = deque()
        self.lq: deque[tuple[int, float]] = deque()
        self.hi = NAN
        self.lo = NAN

    def push(self, v: float) -> None:
        """Set hi / lo for this row (from earlier rows), then take in this row's value."""
        t = self.t
        lim = t - self.w
        hq, lq = self.hq, self.lq
        if lim >= 0 and self.last_nan < lim:
            while hq[0][0] < lim:
                hq.popleft()
            while lq[0][0] < lim:
                lq.popleft()
            self.hi = hq[0][1]
            self.lo = lq[0][1]
        else:
            self.hi = self.lo = NAN
        if v - v == 0.0:  # finite: pandas' rolling (and the batch kernel) read +-inf as NaN
            tv = (t, v)  # one tuple for both deques
            while hq and hq[-1][1] <= v:
                hq.pop()
            hq.append(tv)
            while lq and lq[-1][1] >= v:
                lq.pop()
            lq.append(tv)
        else:
            self.last_nan = t
        self.t = t + 1


class PrevWindow:
    """`prev_max` / `prev_min` on demand: the w values before this row, pushed by their
    source before it takes in the row. For a source read rarely (divergence reads the RSI's
    extremes only on a new price extreme, a few % of rows), a deque of raw values is cheaper
    than `PrevExtremes` on every row. Values must be finite or NaN (the RSI is in [0, 100]):
    a NaN shows in the sum."""

    __slots__ = ("q", "push")

    def __init__(self, w: int) -> None:
        self.q: deque[float] = deque(maxlen=w)
        self.push = self.q.append  # a row costs one deque append

    def full(self) -> bool:
        """Whether prev_max / prev_min are defined (min_periods=w): w earlier rows, no NaN."""
        q = self.q
        if len(q) < (q.maxlen or 0):
            return False
        total = sum(q)
        return total == total

    def lo(self) -> float:
        return min(self.q) if self.full() else NAN

    def hi(self) -> float:
        return max(self.q) if self.full() else NAN


def window_range(x: np.ndarray, w: int) -> np.ndarray:
    """max - min of x over rows [t - w + 1, t]; NaN until the window is full."""
    return _extreme(x, w, 0, True) - _extreme(x, w, 0, False)


def window_sum(x: np.ndarray, w: int) -> np.ndarray:
    """sum of x over rows [t - w + 1, t] (shorter at the start)."""
    from lotus_core.row_kernels import window_sum_kernel  # numba: on first use

    if w < 1:
        raise ValueError(f"window must be >= 1 rows, got {w}")
    v = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty(len(v))
    window_sum_kernel(v, int(w), out)  # cumsum(nan_to_num(x)) differenced, in numpy's order
    return out


class WindowSum:
    """`window_sum` of integer counts one row at a time (rows [t - w + 1, t], shorter at the
    start): a running sum over a deque."""

    __slots__ = ("w", "q", "sum")

    def __init__(self, w: int) -> None:
        self.w = w
        self.q: deque[int] = deque()
        self.sum = 0

    def push(self, v: int) -> None:
        q = self.q
        q.append(v)
        self.sum += v
        if len(q) > self.w:
            self.sum -= q.popleft()


class LastRows:
    """`window_range` / `window_sum` on demand: the last w values (rows [t - w + 1, t]).
    For a window read rarely (sweep's stall test, only after a sweep), one deque append a
    row is cheaper than running state."""

    __slots__ = ("q", "push")

    def __init__(self, w: int) -> None:
        self.q: deque[float] = deque(maxlen=w)
        self.push = self.q.append  # a row costs one deque append

    def range(self) -> float:
        """`window_range`: NaN until w rows exist or while a NaN or +-inf is among them (the
        batch's rolling extremes read +-inf as missing, as pandas does)."""
        q = self.q
        if len(q) < (q.maxlen or 0) or any(v - v != 0.0 for v in q):
            return NAN
        return max(q) - min(q)

    def sum(self) -> float:
        """`window_sum` of counts (never NaN; shorter at the start)."""
        return sum(self.q)


def recent_any(flag: np.ndarray, w: int) -> np.ndarray:
    """True where `flag` held on any of rows [t - w, t - 1]."""
    return window_sum(np.r_[0.0, flag[:-1].astype(np.float64)], w) > 0


def segment_ids(start: np.ndarray) -> np.ndarray:
    """0 before the first start, then 1, 2, ... : each start opens a new segment."""
    return np.cumsum(start.astype(np.int64))


def seg_cummax(x: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Running max of x since the start of its segment, exact: the value does not depend on
    how many segments came before (a BIG-offset trick lost ~1e-5 bps once the offsets grew,
    so a window's strength depended on where the tape started)."""
    return _seg_cumext(x, seg, True)


def seg_cummin(x: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Running min of x since the start of its segment."""
    return _seg_cumext(x, seg, False)


def _seg_cumext(x: np.ndarray, seg: np.ndarray, is_max: bool) -> np.ndarray:
    """pandas' `groupby(seg).cummax()` / `cummin()`: compiled for segments in runs (as
    `segment_ids` makes them), pandas for any other labelling."""
    v = np.ascontiguousarray(x, dtype=np.float64)
    s = np.asarray(seg)
    if s.dtype.kind in "iu" and s.shape == v.shape:
        from lotus_core.row_kernels import seg_cumext_kernel  # numba: on first use

        out = np.empty(len(v))
        if seg_cumext_kernel(v, np.ascontiguousarray(s, dtype=np.int64), is_max, out):
            return out
    g = pd.Series(v).groupby(seg)
    return (g.cummax() if is_max else g.cummin()).to_numpy()


def _seg_starts(values: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row index of the current segment's start, -1 before the first start; `values` at
    it, NaN before). Compiled (lotus_core.row_kernels)."""
    from lotus_core.row_kernels import seg_start_kernel  # numba: on first use

    st = np.ascontiguousarray(start, dtype=np.bool_)
    v = np.ascontiguousarray(values, dtype=np.float64)
    if v.shape != st.shape:
        raise ValueError(f"values {v.shape} and start {st.shape} differ in shape")
    idx, out = np.empty(len(st), np.int64), np.empty(len(st))
    seg_start_kernel(st, v, idx, out)
    return idx, out


def seg_ffill(values: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The value at the segment's start, carried forward (NaN before the first start)."""
    return _seg_starts(values, start)[1]


def seg_start_index(start: np.ndarray) -> np.ndarray:
    """Row index of the current segment's start (-1 before the first start)."""
    return _seg_starts(np.zeros(len(start)), start)[0]


def first_in_segment(cond: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """True at the first row of each segment where `cond` holds (segment 0 excluded)."""
    from lotus_core.row_kernels import first_in_segment_kernel  # numba: on first use

    c = np.asarray(cond)
    if c.dtype != np.bool_:
        raise TypeError(f"cond must be boolean, got {c.dtype}")
    s = np.ascontiguousarray(seg)
    if s.shape != c.shape:
        raise ValueError(f"cond {c.shape} and seg {s.shape} differ in shape")
    out = np.empty(len(c), np.bool_)
    first_in_segment_kernel(np.ascontiguousarray(c), s, out)
    return out
