"""`_range_reduce` (signal_eval's MFE, MAE and gap crossing) is ufunc.reduce over each
window's own rows, whatever order the windows come in: it sorts the pairs by start so that
reduceat's spans between pairs stay short, and puts the results back in window order."""

from __future__ import annotations

import numpy as np

from lotus_core.evaluation.outcomes import _range_reduce


def test_each_pair_is_its_own_reduction_in_any_order():
    rng = np.random.default_rng(11)
    values = rng.normal(size=50_000)
    start = rng.integers(0, len(values) - 1, 3_000)
    stop = np.minimum(start + rng.integers(1, 900, len(start)), len(values))
    for ufunc in (np.maximum, np.minimum):
        want = np.array([ufunc.reduce(values[a:b]) for a, b in zip(start, stop, strict=True)])
        np.testing.assert_array_equal(_range_reduce(ufunc, values, start, stop), want)
    flags = rng.random(len(values)) < 0.001
    want = np.array([flags[a:b].any() for a, b in zip(start, stop, strict=True)])
    np.testing.assert_array_equal(_range_reduce(np.maximum, flags, start, stop), want)
    assert len(_range_reduce(np.maximum, values, start[:0], stop[:0])) == 0
