"""`RollingSum` (the live tape's carried rolling sum, the step form of `rolling_sum` in
grid.py) equals `rolling_sum` bit for bit, whatever the chunking: NaNs, zeros, runs of equal
values and wild magnitudes included."""

from __future__ import annotations

import numpy as np
import pytest

from lotus_core.microtape.grid import RollingSum, rolling_sum


@pytest.mark.parametrize("seed", range(6))
def test_streamed_rolling_sum_is_the_batch_one_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    n = 4000
    x = rng.normal(size=n) * rng.choice([1e-4, 1.0, 1e4], size=n)
    x[rng.random(n) < 0.3] = 0.0
    x[rng.random(n) < 0.05] = np.nan
    x[700:1000] = 0.25  # a run of equal values (pandas' artefact rule)
    w = int(rng.choice([3, 60, 300]))
    minp = int(rng.choice([1, w]))
    want = rolling_sum(x, w, minp)
    rs = RollingSum(w, minp)
    cuts = np.sort(rng.choice(np.arange(1, n), size=20, replace=False))
    got = np.concatenate([rs.extend(part.tolist()) for part in np.split(x, cuts)])
    assert np.array_equal(got.view(np.int64), want.view(np.int64)) or np.array_equal(
        got, want, equal_nan=True)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert (got[ok] == want[ok]).all()
