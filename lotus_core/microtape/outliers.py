"""The trade tape's robust size threshold as one compiled kernel: median + k * max(MAD,
floor * median) of the previous `outlier_window` trade sizes, NaN until that many trades.

One kernel for both paths: the nightly `tape_features` runs it over a coin-day's sizes from
a fresh `SizeWindow`; the live `FlowStream` keeps a `SizeWindow` per coin and runs it over
each batch of new trades. The carried state is explicit (`SizeWindow`: the last sizes in
arrival order, the same sizes sorted, three counters), so the two paths cannot drift apart.

Why compiled: the window keeps its sizes sorted (one binary search and a shift per trade in,
one per trade out), and the MAD is the h-th smallest distance to the median, read by walking
outwards from the median over the sorted sizes: ~0.4 us a trade over a coin-day, against
~1 us for the batch's two `np.partition` passes; the live tape, fed a few trades a call,
paid two Python sorts of `outlier_window` sizes per trade (~20 us) where the kernel call
costs a few us.

Exact: the median and the MAD are order statistics (values, whichever way they are
selected), and the last two steps repeat numpy's arithmetic (`np.maximum`, then med + k *
mad; numba contracts no multiply-add without fastmath), so the thresholds equal the
former `np.partition` definition bit for bit. A NaN size sorts after every number, as in
`np.partition`; a window whose median is infinite takes the slow path (distances sorted).

Compile cost: `cache=True` writes the machine code beside this file in `__pycache__/`
(numba's default locator; PYTHONDONTWRITEBYTECODE does not apply to it) and every later
process, Dagster's step subprocesses included, loads it from there. NUMBA_CACHE_DIR moves it.
"""

from __future__ import annotations

import numba
import numpy as np

from lotus_core.microtape.params import MicroTapeParams


@numba.njit(cache=True)
def _max_nan(a: float, b: float) -> float:
    """np.maximum of two values: NaN if either is."""
    if a != a or b != b:
        return np.nan
    return a if a >= b else b


@numba.njit(cache=True)
def _threshold(ring: np.ndarray, srt: np.ndarray, n: int, k: float, floor: float) -> float:
    """The threshold over a full window: `srt[:n]` its non-NaN sizes sorted."""
    h = ring.shape[0] // 2
    if h >= n:  # the median is a NaN (NaN sorts last)
        return np.nan
    med = srt[h]
    if med - med != 0.0:  # an infinite median: the distances do not sort as the sizes
        dev = np.sort(np.abs(ring - med))
        mad = dev[h]
    else:  # merge the distances below and above the median, smallest first
        mad, i, j = 0.0, h - 1, h + 1
        for _ in range(h):
            if i >= 0 and (j >= n or med - srt[i] <= srt[j] - med):
                mad = med - srt[i]
                i -= 1
            else:
                mad = srt[j] - med
                j += 1
    return med + k * _max_nan(mad, floor * med)


@numba.njit(cache=True)
def _remove(srt: np.ndarray, n: int, x: float) -> None:
    """Take one x out of sorted `srt[:n]`."""
    i = np.searchsorted(srt[:n], x)
    for m in range(i, n - 1):
        srt[m] = srt[m + 1]


@numba.njit(cache=True)
def _insert(srt: np.ndarray, n: int, x: float) -> None:
    """Put x into sorted `srt[:n]` (room for it at srt[n])."""
    i = np.searchsorted(srt[:n], x, side="right")
    for m in range(n, i, -1):
        srt[m] = srt[m - 1]
    srt[i] = x


@numba.njit(cache=True)
def thresholds_kernel(ring: np.ndarray, srt: np.ndarray, meta: np.ndarray, sz: np.ndarray,
                      k: float, floor: float, out: np.ndarray) -> None:
    """Each size's threshold over the window before it into `out`, then the size into the
    window. State: `ring` (the last sizes, oldest at meta[1] once full), `srt` (their
    non-NaN ones sorted, meta[2] of them), meta[0] the sizes seen."""
    w = ring.shape[0]
    seen, head, n = meta[0], meta[1], meta[2]
    for j in range(sz.shape[0]):
        out[j] = _threshold(ring, srt, n, k, floor) if seen >= w else np.nan
        if seen >= w:
            old = ring[head]
            if old == old:
                _remove(srt, n, old)
                n -= 1
        x = sz[j]
        ring[head] = x
        head = head + 1 if head + 1 < w else 0
        if x == x:
            _insert(srt, n, x)
            n += 1
        seen += 1
    meta[0], meta[1], meta[2] = seen, head, n


class SizeWindow:
    """One coin's carried state of the threshold kernel: the last `outlier_window` sizes."""

    __slots__ = ("floor", "k", "meta", "ring", "srt")

    def __init__(self, params: MicroTapeParams) -> None:
        w = params.outlier_window
        self.ring = np.full(w, np.nan)
        self.srt = np.empty(w)
        self.meta = np.zeros(3, np.int64)
        self.k, self.floor = float(params.outlier_k), float(params.outlier_mad_floor)

    def thresholds(self, sz: np.ndarray) -> np.ndarray:
        """The thresholds of the next sizes (each over the window before it), then keep them."""
        sz = np.ascontiguousarray(sz, dtype=np.float64)
        out = np.empty(len(sz))
        thresholds_kernel(self.ring, self.srt, self.meta, sz, self.k, self.floor, out)
        return out


def robust_thresholds(sz: np.ndarray, params: MicroTapeParams) -> np.ndarray:
    """A coin-day's thresholds: the kernel over all its sizes from an empty window."""
    return SizeWindow(params).thresholds(sz)
