"""The design's sums taken from the codes (`lotus_core.learning.design`) against the sparse
one-hot products they replace (the design of a 250,000-window night is ~80 MB):
counts are integers and must match exactly; sums of outcomes are held to a stated tolerance
(the same additions in the same order on this machine, but two different code paths)."""

import numpy as np
import pytest

from lotus_core.learning.design import gram, one_hot, total, x_beta, xty
from lotus_core.learning.units import UnitSet


def _units(seed: int, n: int, sizes: tuple[int, ...]) -> UnitSet:
    rng = np.random.default_rng(seed)
    values = tuple(tuple(f"v{i}" for i in range(s)) for s in sizes)
    codes = np.column_stack([rng.integers(0, s, n) for s in sizes]).astype(np.int16)
    return UnitSet(tuple(f"f{j}" for j in range(len(sizes))), values, codes,
                   rng.standard_normal(n) * 10, rng.integers(0, 2, n).astype(np.float64),
                   1_767_225_600_000 + np.arange(n) * 60_000)


@pytest.mark.parametrize("chunk", [None, 97])
def test_gram_is_the_one_hot_cross_product(monkeypatch, chunk):
    units = _units(1, 1_500, (3, 5, 2, 4, 1))
    if chunk is not None:  # counted in chunks of rows: the same integers
        monkeypatch.setattr("lotus_core.learning.design._CHUNK", chunk)
    rows = np.sort(np.random.default_rng(2).choice(units.n, 1_000, replace=False))
    x = one_hot(units)[rows]
    np.testing.assert_array_equal(gram(units, rows), (x.T @ x).toarray())


def test_sums_of_outcomes_and_coefficients_are_the_sparse_products():
    units = _units(3, 2_000, (4, 3, 6, 2))
    rows = np.flatnonzero(np.random.default_rng(4).random(units.n) < 0.6)
    x = one_hot(units)[rows]
    np.testing.assert_allclose(xty(units, units.y, rows), x.T @ units.y[rows], rtol=1e-12,
                               atol=1e-9)
    beta = np.random.default_rng(5).standard_normal(units.n_literals)
    np.testing.assert_allclose(x_beta(units, beta, rows), x @ beta, rtol=1e-12, atol=1e-12)
    assert total(units.y[rows]) == pytest.approx(float(units.y[rows].sum()), rel=1e-12)
    assert total(np.array([])) == 0.0
