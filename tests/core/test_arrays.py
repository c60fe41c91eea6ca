"""lotus_core.arrays gives np.unique's values (sorted, each once) by sorting."""

from __future__ import annotations

import numpy as np

from lotus_core.arrays import distinct, merge_distinct, positions_by


def test_distinct_and_merge_equal_np_unique():
    rng = np.random.default_rng(3)
    for dtype, hi in ((np.uint64, 2**63), (np.int64, 50), (np.int64, 2**40)):
        a = rng.integers(0, hi, 20_000, dtype=dtype)
        b = rng.integers(0, hi, 3_000, dtype=dtype)
        np.testing.assert_array_equal(distinct(a), np.unique(a))
        known = np.unique(a)
        got = merge_distinct(known, np.concatenate([b, a[:500]]))  # some already known
        np.testing.assert_array_equal(got, np.unique(np.concatenate([a, b])))
        assert got.dtype == a.dtype
    empty = np.empty(0, np.uint64)
    assert len(distinct(empty)) == 0
    np.testing.assert_array_equal(merge_distinct(empty, np.array([5, 5, 1], np.uint64)),
                                  np.array([1, 5], np.uint64))


def test_positions_by_is_flatnonzero_of_each_value():
    rng = np.random.default_rng(5)
    coins = np.array(["BTC", "ETH", "SOL", "kPEPE", "@107"], dtype=object)
    values = coins[rng.integers(0, len(coins), 5_000)]
    values[rng.integers(0, 5_000, 40)] = None  # nulls belong to no value
    got = positions_by(values)
    assert set(got) == set(coins)
    for c in coins:
        np.testing.assert_array_equal(got[c], np.flatnonzero(values == c))
    assert positions_by(np.array([], dtype=object)) == {}
