"""The anomaly expert's fitted IsolationForest as one compiled kernel, for the nightly and
the live path alike: `forest_scores` over a coin-day's feature matrix (`AnomalyExpert.run`
and its fit's history scores) and over one row (`row_scorer`, called by `DsiStream`'s
generated step). The forest is flattened once per fitted model into plain arrays
(`ForestArrays`); the kernel walks each tree to its leaf and sums the leaves' terms.

Why one kernel: the live step used to walk the forest as generated Python (nested
conditional expressions, ~12 us of CPU a row) beside sklearn's `score_samples` in the
nightly, two definitions held equal by a test. The kernel is both: a few us a row live
(`row_scorer` calls its compiled entry point on a kept row buffer, so the call from Python
is not most of it), and the nightly's coin-day at sklearn's speed (a tree at a time over
every row, as sklearn's `apply`).

Exact, as sklearn computes it (`IsolationForest._compute_score_samples`, sklearn 1.9): each
tree adds (depth + average path length of the leaf - 1) in tree order to a running sum
starting at 0.0, then the score is numpy's `2 ** -(sum / denominator)` (done here with numpy
on the kernel's sums, so the last step is the same ufunc as sklearn's). sklearn casts X to
float32 before comparing it with the float64 thresholds; a double x passes
`float32(x) <= t` exactly when `x <= t'`, t' the largest double that rounds to a float32
<= t (`float32_cut`), so the kernel stays on doubles. A NaN goes where the node's
`missing_go_to_left` sends it, as in sklearn's `apply`. The kernel adds, compares and
nothing else, so no CPU rounds it otherwise.

Compile cost: `cache=True` (numba's `__pycache__/` beside this file; see
docs/structure.md, "Compiled kernels").
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np


@dataclass(frozen=True)
class ForestArrays:
    """Every tree's nodes laid end to end. `node[k]`: a split's column of the full row, its
    children (absolute indices; left -1 at a leaf) and whether a NaN goes left; `val[k]`:
    a split's float32 cut, a leaf's term."""

    roots: np.ndarray  # int64: each tree's first node
    node: np.ndarray  # int64 (nodes, 4): col, left, right, nan_left
    val: np.ndarray  # float64
    denominator: float  # trees x average path length of max_samples
    n_features: int


_CACHE: weakref.WeakKeyDictionary[Any, ForestArrays] = weakref.WeakKeyDictionary()
"""A fitted forest's arrays: flattened once per model."""


def float32_cut(t: float) -> float:
    """The double t' with `x <= t'` <=> `float32(x) <= t` for every double x."""
    f32 = np.float32
    low = f32(t)
    if float(low) > t:
        low = np.nextafter(low, f32(-np.inf))
    high = np.nextafter(low, f32(np.inf))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"threshold {t!r} is outside float32's finite range")
    mid = (float(low) + float(high)) / 2  # exact: two adjacent float32 values
    return mid if f32(mid) == low else float(np.nextafter(mid, -np.inf))


def forest_arrays(forest: Any) -> ForestArrays:
    """The fitted sklearn IsolationForest as `ForestArrays` (its private per-leaf arrays
    `_decision_path_lengths`, `_average_path_length_per_tree`, as sklearn 1.9 keeps them)."""
    cached = _CACHE.get(forest)
    if cached is not None:
        return cached
    n = int(forest.n_features_in_)
    subsample = forest._max_features != n
    roots, nodes, vals = [], [], []
    base = 0
    for k, est in enumerate(forest.estimators_):
        t = est.tree_
        cols = np.asarray(forest.estimators_features_[k] if subsample else np.arange(n),
                          dtype=np.int64)
        leaf = t.children_left == -1
        roots.append(base)
        nodes.append(np.column_stack([
            np.where(leaf, 0, cols[np.maximum(t.feature, 0)]),
            np.where(leaf, -1, t.children_left + base),
            np.where(leaf, -1, t.children_right + base),
            np.asarray(t.missing_go_to_left, dtype=np.int64)]))
        # a leaf's term, as sklearn adds it: depth + average path length of the leaf - 1
        term = forest._decision_path_lengths[k] + forest._average_path_length_per_tree[k] - 1.0
        vals.append(np.array([float(term[j]) if lf else float32_cut(float(th))
                              for j, (lf, th) in enumerate(zip(leaf, t.threshold, strict=True))]))
        base += t.node_count
    arrays = ForestArrays(
        roots=np.asarray(roots, dtype=np.int64),
        node=np.ascontiguousarray(np.concatenate(nodes), dtype=np.int64),
        val=np.concatenate(vals).astype(np.float64),
        denominator=len(forest.estimators_) * _average_path_length(forest._max_samples),
        n_features=n)
    _CACHE[forest] = arrays
    return arrays


@numba.njit(cache=True)
def _leaf(x: np.ndarray, r: int, k: int, node: np.ndarray, val: np.ndarray) -> int:
    """The leaf row r of x reaches from node k."""
    while node[k, 1] != -1:
        v = x[r, node[k, 0]]
        go_left = node[k, 3] != 0 if v != v else v <= val[k]
        k = node[k, 1] if go_left else node[k, 2]
    return k


@numba.njit(cache=True)
def forest_depths(x: np.ndarray, roots: np.ndarray, node: np.ndarray, val: np.ndarray,
                  out: np.ndarray) -> None:
    """Each row's sum of its leaves' terms into `out`, tree by tree in order (a tree at a
    time over every row, as sklearn: its nodes stay in cache)."""
    out[:] = 0.0
    for root in roots:
        for r in range(x.shape[0]):
            out[r] += val[_leaf(x, r, root, node, val)]


@numba.njit(cache=True)
def forest_depth(x: np.ndarray, roots: np.ndarray, node: np.ndarray, val: np.ndarray
                 ) -> float:
    """forest_depths of one row x[0] (the live step: no output array)."""
    depth = 0.0
    for root in roots:
        depth += val[_leaf(x, 0, root, node, val)]
    return depth


def forest_scores(fa: ForestArrays, x: np.ndarray) -> np.ndarray:
    """-score_samples of the rows of x: 2 ** -(depth / denominator), as sklearn."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    depths = np.empty(x.shape[0])
    forest_depths(x, fa.roots, fa.node, fa.val, depths)
    if not fa.denominator:  # sklearn: a one-sample forest scores 2 ** -1
        return np.full(len(depths), 0.5)
    scores: np.ndarray = 2 ** (-(depths / fa.denominator))
    return scores


_ROW_SIG = (numba.float64[:, ::1], numba.int64[::1], numba.int64[:, ::1], numba.float64[::1])
"""`forest_depth`'s one signature in the live step: a C-ordered row buffer, the arrays'."""


def row_scorer(fa: ForestArrays) -> Callable[..., float]:
    """`score(x0, ..., x{n-1}) -> float`: forest_scores of that one row (the live step),
    numpy's pow of one value. Called once a row, so its own cost counts: the row is written
    into one buffer kept by the scorer (no new array a row), and `forest_depth` is called
    through its compiled entry point for the buffer's and arrays' types (`Dispatcher.
    compile`), not the dispatcher, which types every argument again on every call."""
    x = np.empty((1, fa.n_features), dtype=np.float64)
    roots, node, val = (np.ascontiguousarray(a, dtype=t) for a, t in (
        (fa.roots, np.int64), (fa.node, np.int64), (fa.val, np.float64)))
    den = fa.denominator
    depth = forest_depth.compile(_ROW_SIG)
    row, pow_ = x[0], np.power

    def score(*xs: float) -> float:
        if not den:
            return 0.5
        row[:] = xs
        d = depth(x, roots, node, val)
        return float(pow_(2.0, -(d / den)))

    return score


def _average_path_length(n: int) -> float:
    """sklearn.ensemble._iforest._average_path_length of one leaf size."""
    from sklearn.ensemble._iforest import _average_path_length as apl

    return float(apl([n])[0])
