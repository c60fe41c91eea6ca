"""The one-hot design of the units' codes, and the sums the estimators take of it without
building it: its Gram matrix (co-occurrence counts), X'y and X beta.

The design of n windows is n x F entries of 12 bytes (a float and a column index); at
250,000 windows of 15 features it is ~45 MB, which the outcome model and the break test
would hold whole and copy for their training rows and days. Every sum here is the one the
sparse products made, in the same order: counts are integers; X'y adds each literal's
outcomes row by row, as the transposed product did; X beta adds a row's coefficients
feature by feature from zero, as the row product did.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import scipy.sparse as sp

from lotus_core.learning.units import UnitSet

_CHUNK = 65_536
"""Rows counted together by `gram`."""


def flat_codes(units: UnitSet, rows: np.ndarray | None = None) -> np.ndarray:
    """(rows, F) literal ids (the codes offset by their feature's first literal), int32."""
    codes = units.codes if rows is None else units.codes[rows]
    return codes.astype(np.int32) + units.offsets[None, :].astype(np.int32)


def one_hot(units: UnitSet, drop: Collection[int] = (),
            rows: np.ndarray | None = None) -> sp.csr_matrix:
    """Sparse one-hot of the codes (rows x literals), optionally without the columns of the
    features `drop` and of some `rows` only (ascending: the whole matrix's rows `rows`, built
    without it). Built straight in CSR form: every row holds exactly one entry per kept
    feature."""
    flat = flat_codes(units, rows)
    n, nf = flat.shape
    keep = [j for j in range(nf) if j not in drop]
    indices = (flat if len(keep) == nf else np.ascontiguousarray(flat[:, keep])).ravel()
    indptr = np.arange(0, n * len(keep) + 1, len(keep), dtype=np.int64)
    data = np.ones(len(indices), dtype=np.float64)
    return sp.csr_matrix((data, indices, indptr), shape=(n, units.n_literals))


def gram(units: UnitSet, rows: np.ndarray) -> np.ndarray:
    """(L, L) X'X of the design's `rows`: how many of them hold each pair of literals (a
    feature's own block is diagonal: a row holds one value of each feature). Counted a
    chunk of rows at a time (integers: exact in any order)."""
    sizes = [len(v) for v in units.values]
    out = np.zeros((units.n_literals, units.n_literals))
    for start in range(0, len(rows), _CHUNK):
        sub = units.codes[rows[start:start + _CHUNK]].astype(np.int32)
        for f, vf in enumerate(sizes):
            lo = int(units.offsets[f])
            out[lo + np.arange(vf), lo + np.arange(vf)] += np.bincount(sub[:, f], minlength=vf)
            for g in range(f + 1, len(sizes)):
                vg, go = sizes[g], int(units.offsets[g])
                block = np.bincount(sub[:, f] * vg + sub[:, g],
                                    minlength=vf * vg).reshape(vf, vg)
                out[lo:lo + vf, go:go + vg] += block
                out[go:go + vg, lo:lo + vf] += block.T
    return out


def xty(units: UnitSet, y: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(L,) X'y over `rows`: each literal's outcomes summed in row order (y: every unit's)."""
    out = np.empty(units.n_literals)
    yr = y[rows]
    for f, values in enumerate(units.values):
        lo = int(units.offsets[f])
        out[lo:lo + len(values)] = np.bincount(units.codes[rows, f], weights=yr,
                                               minlength=len(values))
    return out


def total(y: np.ndarray) -> float:
    """The sum of y added in order from zero (the intercept column's X'y)."""
    return float(np.bincount(np.zeros(len(y), dtype=np.int64), weights=y, minlength=1)[0])


def x_beta(units: UnitSet, beta: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(rows,) X beta: each row's features' coefficients added from zero, feature by feature."""
    out = np.zeros(len(rows))
    for f in range(len(units.values)):
        out += beta[units.codes[rows, f].astype(np.int64) + int(units.offsets[f])]
    return out
