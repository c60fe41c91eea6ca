"""Distinct values and per-value positions of day-long arrays, by sorting.

numpy >= 2.3 finds `np.unique(a)`'s values of an integer array with a hash table when no
`return_*` is asked; on this project's machines (numpy 2.4) that was 70x slower than one
sort at 1e6 values (0.45 s against 0.006 s) and took 21 s for the 10 million trade keys of
a 100-coin day. These helpers give np.unique's result (sorted, each value once) by sorting.
For integer (or NaN-free) data: a sort does not collapse NaNs as np.unique does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def small_int(n: int) -> np.dtype:
    """The smallest signed integer type that holds -n..n-1: codes of n labels with -1 for
    none, ranks of n rows (int8 up to 128: int16 or int64 codes of a 250,000-window
    night are MBs held for values of a byte)."""
    return np.min_scalar_type(-max(n, 1))


def distinct(a: np.ndarray) -> np.ndarray:
    """`np.unique(a)` of a 1-d integer array, by one sort."""
    return _once(np.sort(a))


def _once(s: np.ndarray) -> np.ndarray:
    """A sorted array with each value kept once."""
    keep = np.empty(len(s), dtype=bool)
    keep[:1] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def merge_distinct(known: np.ndarray, new: np.ndarray) -> np.ndarray:
    """`np.unique(np.concatenate([known, new]))` where `known` is already sorted and
    distinct: the two sorted runs are merged by timsort (numpy's stable sort of integers)
    in time linear in `known`, not re-sorted."""
    merged = np.concatenate([known, distinct(new)])
    merged.sort(kind="stable")
    return _once(merged)


def positions_by(values: np.ndarray) -> dict[Any, np.ndarray]:
    """Each distinct non-null value's positions in `values`, ascending: the dict
    `{v: np.flatnonzero(values == v)}`, from one hash pass (`pd.factorize`) and one stable
    sort of the integer codes, not a scan of every row per value. A day's per-coin scans
    (`wcoin == coin` for each coin) grow as coins x rows: at 100 coins they cost more than
    the work they select (docs/scale.md)."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    if len(uniques) == 0:
        return {}
    small = np.int16 if len(uniques) < 2**15 else np.int64  # int16: numpy's radix sort
    order = np.argsort(codes.astype(small), kind="stable")
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    bounds = int((codes < 0).sum()) + np.concatenate(([0], np.cumsum(counts)))
    return {uniques[k]: order[bounds[k]:bounds[k + 1]] for k in range(len(uniques))}
