"""The compiled kernels (lotus_core/row_kernels.py) behind `filters.ewm`, `ewm_by_position`
and the rolling / segment helpers of `signals.features` equal the pandas and numpy forms
they replaced bit for bit (NaN payloads and the signs of zeros included), on random data
with NaNs, +-inf, repeated values and signed zeros."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core import filters
from lotus_core.signals import features as F


def _bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).view(np.int64)


def _same(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(_bits(got), _bits(want))


def _data(seed: int) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 500)) if seed % 7 else int(rng.integers(0, 4))
    x = np.round(np.cumsum(rng.normal(size=n)), int(rng.integers(0, 3)))  # ties
    if seed % 2:
        x[rng.random(n) < 0.1] = np.nan
    if seed % 3 == 0 and n:
        x[0] = np.nan
    if seed % 4 == 1:
        x[rng.random(n) < 0.05] = np.inf
        x[rng.random(n) < 0.05] = -np.inf
    if seed % 5 == 0:
        x[rng.random(n) < 0.3] = 0.0
        x[rng.random(n) < 0.3] = -0.0
        x[: n // 3] = x[0] if n else 0.0  # a flat start
    if seed % 6 == 5:
        x[rng.random(n) < 0.1] = -np.float64(np.nan)  # a NaN with its sign bit set
    return x, int(rng.integers(1, 60))


SEEDS = range(60)


@pytest.mark.parametrize("seed", SEEDS)
def test_ewm_equals_pandas(seed: int) -> None:
    x, w = _data(seed)
    s = pd.Series(x, dtype="float64")
    for kw in ({"span": w}, {"span": 1}, {"alpha": 1.0 / w}, {"alpha": 1.0}, {"span": 2.5}):
        for ignore_na, ours in ((True, filters.ewm), (False, filters.ewm_by_position)):
            want = s.ewm(**kw, adjust=False, ignore_na=ignore_na).mean().to_numpy()
            _same(ours(x, **kw), want)


def test_ewm_checks_its_arguments_as_pandas() -> None:
    x = np.ones(3)
    for kw in ({}, {"span": 3, "alpha": 0.5}, {"span": 0.5}, {"alpha": 0.0}, {"alpha": 1.5}):
        with pytest.raises(ValueError):
            pd.Series(x).ewm(**kw, adjust=False).mean()
        with pytest.raises(ValueError):
            filters.ewm(x, **kw)


def test_ewm_live_twin_equals_the_kernel() -> None:
    x, _ = _data(1)  # with +-inf: the batch reads them as NaN, and so must the live step
    for span in (3, 20):
        e = F.Ewm(F.ewm_alpha(span=span))
        _same(np.array([e.push(float(v)) for v in x]), filters.ewm(x, span=span))


def test_prev_extremes_live_twin_equals_the_kernel() -> None:
    x = np.concatenate([_data(s)[0] for s in (1, 5, 9)])  # with +-inf: both read them as NaN
    for w in (1, 3, 20):
        e, hi, lo = F.PrevExtremes(w), [], []
        for v in x:
            e.push(float(v))
            hi.append(e.hi)
            lo.append(e.lo)
        _same(np.array(hi), F.prev_max(x, w))
        _same(np.array(lo), F.prev_min(x, w))


def test_last_rows_range_equals_the_batch_window_range() -> None:
    """The live `LastRows.range` (read on demand) against `window_range` on the same rows,
    NaN, +-inf and signed zeros included: the batch reads +-inf as missing, so must it."""
    x = np.concatenate([_data(s)[0] for s in (1, 5, 9)])
    for w in (1, 3, 20):
        rows, got = F.LastRows(w), []
        for v in x:
            rows.push(float(v))
            got.append(rows.range())
        _same(np.array(got), F.window_range(x, w))


@pytest.mark.parametrize("seed", SEEDS)
def test_rolling_extremes_equal_pandas(seed: int) -> None:
    x, w = _data(seed)
    for ww in (w, 1, 2):
        prev = pd.Series(x).shift(1).rolling(ww, min_periods=ww)
        _same(F.prev_max(x, ww), prev.max().to_numpy())
        _same(F.prev_min(x, ww), prev.min().to_numpy())
        r = pd.Series(x).rolling(ww, min_periods=ww)
        _same(F.window_range(x, ww), (r.max() - r.min()).to_numpy())


def _window_sum_before(x: np.ndarray, w: int) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):  # +-inf read as +-max overflow
        c = np.cumsum(np.nan_to_num(np.asarray(x, dtype=np.float64)))
        out = c.copy()
        out[w:] = c[w:] - c[:-w]
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_window_sum_and_recent_any_equal_numpy(seed: int) -> None:
    x, w = _data(seed)
    for ww in (w, 1, len(x) + 3):
        _same(F.window_sum(x, ww), _window_sum_before(x, ww))
        flag = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0) > 0.5
        if len(flag):
            want = _window_sum_before(np.r_[0.0, flag[:-1].astype(np.float64)], ww) > 0
            np.testing.assert_array_equal(F.recent_any(flag, ww), want)
    counts = np.random.default_rng(seed).integers(0, 5, size=len(x))
    _same(F.window_sum(counts, w), _window_sum_before(counts, w))


@pytest.mark.parametrize("seed", SEEDS)
def test_segment_extremes_equal_pandas(seed: int) -> None:
    x, _ = _data(seed)
    rng = np.random.default_rng(seed + 1000)
    seg = F.segment_ids(rng.random(len(x)) < 0.05)
    xs = pd.Series(np.asarray(x, dtype=np.float64))
    _same(F.seg_cummax(x, seg), xs.groupby(seg).cummax().to_numpy())
    _same(F.seg_cummin(x, seg), -pd.Series(-x).groupby(seg).cummax().to_numpy())
    mixed = rng.integers(0, 4, size=len(x))  # labels that come back: pandas' own path
    _same(F.seg_cummax(x, mixed), xs.groupby(mixed).cummax().to_numpy())
    _same(F.seg_cummin(x, mixed), -pd.Series(-x).groupby(mixed).cummax().to_numpy())


def _seg_ffill_before(values: np.ndarray, start: np.ndarray) -> np.ndarray:
    idx = np.where(start, np.arange(len(start)), -1)
    idx = np.maximum.accumulate(idx)
    out = np.full(len(start), np.nan)
    ok = idx >= 0
    out[ok] = np.asarray(values, dtype=np.float64)[idx[ok]]
    return out


def _seg_start_index_before(start: np.ndarray) -> np.ndarray:
    idx = np.where(start, np.arange(len(start)), -1)
    return np.maximum.accumulate(idx)


def _first_in_segment_before(cond: np.ndarray, seg: np.ndarray) -> np.ndarray:
    c = np.cumsum(cond.astype(np.int64))
    seg_change = np.r_[True, seg[1:] != seg[:-1]]
    before = np.where(seg_change, c - cond.astype(np.int64), 0)
    before = np.maximum.accumulate(np.where(seg_change, before, -1))
    return cond & (c - before == 1) & (seg > 0)


@pytest.mark.parametrize("seed", SEEDS)
def test_segment_starts_equal_numpy(seed: int) -> None:
    x, _ = _data(seed)
    rng = np.random.default_rng(seed + 2000)
    start = rng.random(len(x)) < (0.3 if seed % 2 else 0.02)
    if seed % 3 == 0 and len(x):
        start[0] = True
    _same(F.seg_ffill(x, start), _seg_ffill_before(x, start))
    got, want = F.seg_start_index(start), _seg_start_index_before(start)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    seg = F.segment_ids(start)
    cond = rng.random(len(x)) < 0.3
    got_first = F.first_in_segment(cond, seg)
    assert got_first.dtype == np.bool_
    np.testing.assert_array_equal(got_first, _first_in_segment_before(cond, seg))
    mixed = rng.integers(-1, 3, size=len(x))  # labels that come back, and <= 0
    np.testing.assert_array_equal(F.first_in_segment(cond, mixed),
                                  _first_in_segment_before(cond, mixed))
