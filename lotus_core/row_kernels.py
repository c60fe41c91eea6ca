"""The per-row recursions behind `lotus_core.filters` and `lotus_core.signals.features` as
compiled kernels.

Why compiled: the scoring stage and the detector audits call these on many small per-coin
slices, where pandas' per-call overhead (Series, window objects, dispatch: tens of us) was
most of the cost; a kernel call costs a few us.

Exact: each kernel repeats the float operations of the pandas or numpy form it replaced in
the same order (no fastmath: numba contracts no multiply-add without it), including
pandas' NaN rules (its window functions read +-inf as NaN; a NaN it makes is `np.nan`), so
the outputs are equal bit for bit (tests/core/signals/test_feature_kernels.py).

Kept out of `filters` and `features`, which the code location imports: numba (~0.3 s of
CPU) is imported on first use only. Compile cost: `cache=True`, as microtape/outliers.py.
"""

from __future__ import annotations

import numba
import numpy as np

_INF = np.inf
_BIG = np.finfo(np.float64).max  # np.nan_to_num's stand-in for +inf


@numba.njit(cache=True)
def ewm_kernel(x: np.ndarray, alpha: float, com_is_1: bool, ignore_na: bool,
               out: np.ndarray) -> None:
    """pandas' `ewm(adjust=False).mean()` (its Cython `ewm`, min_periods 1) into `out`:
    old weight times mean plus new weight (alpha) times value, over their sum; an unchanged
    value is skipped; ignore_na: a NaN row neither moves nor ages the mean. At com == 1
    pandas takes the new weight as 1 - old weight (its rule for irregular times, applied to
    the unit steps too): equal to alpha unless NaN rows aged the old weight."""
    n = x.shape[0]
    if n == 0:
        return
    b = 1.0 - alpha
    weighted = x[0]
    if weighted == _INF or weighted == -_INF:
        weighted = np.nan
    nobs = 1 if weighted == weighted else 0
    out[0] = weighted if nobs >= 1 else np.nan
    old_wt = 1.0
    new_wt = alpha
    for i in range(1, n):
        cur = x[i]
        if cur == _INF or cur == -_INF:
            cur = np.nan
        is_obs = cur == cur
        if is_obs:
            nobs += 1
        if weighted == weighted:
            if is_obs or not ignore_na:
                old_wt *= b
                if com_is_1:
                    new_wt = 1.0 - old_wt
                if is_obs:
                    if weighted != cur:
                        weighted = old_wt * weighted + new_wt * cur
                        weighted /= old_wt + new_wt
                    old_wt = 1.0
        elif is_obs:
            weighted = cur
        out[i] = weighted if nobs >= 1 else np.nan


@numba.njit(cache=True)
def rolling_extreme(x: np.ndarray, w: int, lag: int, is_max: bool, out: np.ndarray) -> None:
    """pandas' `shift(lag).rolling(w, min_periods=w)` max (or min) into `out`: the extreme
    of x over rows [t - lag - w + 1, t - lag], NaN until w such rows exist or while one is
    NaN or +-inf. A monotonic index queue; an equal later value replaces an earlier one, as
    in pandas (which of two equal values shows only in the sign of a zero)."""
    n = x.shape[0]
    q = np.empty(n, np.int64)
    head = tail = 0
    last_nan = -(1 << 62)
    for t in range(n):
        j = t - lag  # the row that enters the window
        if j >= 0:
            v = x[j]
            if v == v and v != _INF and v != -_INF:
                if is_max:
                    while tail > head and x[q[tail - 1]] <= v:
                        tail -= 1
                else:
                    while tail > head and x[q[tail - 1]] >= v:
                        tail -= 1
                q[tail] = j
                tail += 1
            else:
                last_nan = j
        first = j - w + 1  # the window's first row
        if first >= 0 and last_nan < first:
            while q[head] < first:
                head += 1
            out[t] = x[q[head]]
        else:
            out[t] = np.nan


@numba.njit(cache=True)
def window_sum_kernel(x: np.ndarray, w: int, out: np.ndarray) -> None:
    """numpy's `c = cumsum(nan_to_num(x)); c[t] - c[t - w]` (c[t] for t < w) into `out`."""
    n = x.shape[0]
    c = np.empty(n)
    acc = 0.0
    for t in range(n):
        v = x[t]
        if v != v:
            v = 0.0
        elif v == _INF:
            v = _BIG
        elif v == -_INF:
            v = -_BIG
        acc = acc + v if t > 0 else v  # cumsum starts at x[0] (a -0.0 stays -0.0)
        c[t] = acc
        out[t] = acc if t < w else acc - c[t - w]


@numba.njit(cache=True)
def seg_cumext_kernel(x: np.ndarray, seg: np.ndarray, is_max: bool, out: np.ndarray) -> bool:
    """pandas' `groupby(seg).cummax()` (or cummin) into `out` for `seg` in runs (each label
    one contiguous block): a NaN row shows itself and changes nothing; an equal later value
    does not replace the first. False, `out` unfinished, when a label comes back."""
    n = x.shape[0]
    acc = 0.0
    for t in range(n):
        if t == 0 or seg[t] != seg[t - 1]:
            if t > 0 and seg[t] < seg[t - 1]:
                return False
            acc = -_INF if is_max else _INF
        v = x[t]
        if v == v:
            if (v > acc) if is_max else (v < acc):
                acc = v
            out[t] = acc
        else:
            out[t] = v
    return True


@numba.njit(cache=True)
def seg_start_kernel(start: np.ndarray, values: np.ndarray, idx: np.ndarray,
                     out: np.ndarray) -> None:
    """The row index of the last start at or before each row into `idx` (-1 before the
    first), and `values` there into `out` (NaN before the first start): numpy's
    `maximum.accumulate(where(start, arange, -1))` and the gather by it."""
    last = -1
    for t in range(start.shape[0]):
        if start[t]:
            last = t
        idx[t] = last
        out[t] = values[last] if last >= 0 else np.nan


@numba.njit(cache=True)
def first_in_segment_kernel(cond: np.ndarray, seg: np.ndarray, out: np.ndarray) -> None:
    """True where `cond` holds for the first time in its run of equal `seg` labels, and the
    label is > 0, into `out` (numpy's cumsum-count form, row by row)."""
    count = 0
    for t in range(cond.shape[0]):
        if t == 0 or seg[t] != seg[t - 1]:
            count = 0
        if cond[t]:
            count += 1
        out[t] = cond[t] and count == 1 and seg[t] > 0
