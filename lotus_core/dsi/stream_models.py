"""The learned experts' fitted scikit-learn models as plain-Python functions of one row,
equal bit for bit to the batch: a per-row sklearn call costs ~100 µs, these ~10 µs (the
forest) and ~3 µs (the linear model). Each is generated source, compiled once per model.

`linear_source`: the sequence expert's `_Fit.decision` (standardise, then the intercept
plus each coefficient's term, summed in column order) as straight-line code, written into
the coin's step (stream_windows.Program).

`compile_forest`: the anomaly expert's IsolationForest `-score_samples`. Each tree becomes
nested `(... if x_j <= t else ...)` expressions giving the leaf's depth term, summed tree
by tree in sklearn's order in one expression, then `2 ** -(depths / denominator)`: the operations of
`IsolationForest._compute_score_samples` on the same doubles (the expert's flag and conf
compare the score with history scores, so it must be exact). It reads the fitted forest's
private per-leaf arrays (`_decision_path_lengths`, `_average_path_length_per_tree`) as
sklearn 1.9 keeps them; tests/core/live/test_stream_dsi.py checks it against sklearn.

sklearn casts X to float32 before the trees compare it with their float64 thresholds; a
double x passes `float32(x) <= t` exactly when `x <= t'`, where t' is the largest double
that rounds to a float32 <= t. Using t' keeps the function on doubles. A NaN goes where
the node's `missing_go_to_left` sends it, as in sklearn's `apply`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Scorer = Callable[..., float]
_CACHE: weakref.WeakKeyDictionary[Any, Scorer] = weakref.WeakKeyDictionary()
"""A fitted forest's scorer: compiled once per model."""


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


def _lit(x: float) -> str:
    """A float as a Python literal (repr round-trips; inf and NaN are not literals)."""
    x = float(x)
    return repr(x) if x - x == 0.0 else f"float({str(x)!r})"


def _tree_expr(tree: Any, leaf_term: np.ndarray, cols: list[int]) -> str:
    """One tree as nested conditional expressions: its leaf's term for the row."""
    left, right = tree.children_left, tree.children_right
    feature, threshold = tree.feature, tree.threshold
    nan_left = tree.missing_go_to_left

    def node(k: int) -> str:
        if left[k] == -1:
            return _lit(leaf_term[k])
        x, cut = f"x{cols[int(feature[k])]}", _lit(float32_cut(float(threshold[k])))
        test = f"not ({x} > {cut})" if nan_left[k] else f"{x} <= {cut}"
        return f"({node(int(left[k]))} if {test} else {node(int(right[k]))})"

    return node(0)


def compile_forest(forest: Any) -> Scorer:
    """`score(x0, ..., x{n-1}) -> float`, equal to `-forest.score_samples(x[None])[0]` for
    the row x of those n features."""
    cached = _CACHE.get(forest)
    if cached is not None:
        return cached
    n = int(forest.n_features_in_)
    subsample = forest._max_features != n
    denominator = len(forest.estimators_) * float(
        _average_path_length(forest._max_samples))
    trees = []
    for k, est in enumerate(forest.estimators_):
        # the per-leaf term sklearn adds: depth + average path length of the leaf - 1
        term = forest._decision_path_lengths[k] + forest._average_path_length_per_tree[k] - 1.0
        cols = [int(c) for c in forest.estimators_features_[k]] if subsample else list(range(n))
        trees.append(_tree_expr(est.tree_, term, cols))
    # one expression, the trees added in order: no store and load of the sum per tree
    depths = " + ".join(["0.0", *trees])
    body = [f"def score({', '.join(f'x{j}' for j in range(n))}):",
            f"    return float(POW(2.0, -(({depths}) / {_lit(denominator)})))" if denominator
            else "    return 0.5"]  # sklearn: a one-sample forest scores 2 ** -1
    scope: dict[str, Any] = {"POW": np.power}  # sklearn's `2 ** array`: numpy's pow
    exec(compile("\n".join(body), f"<iforest {id(forest):x}>", "exec"), scope)
    score: Scorer = scope["score"]
    _CACHE[forest] = score
    return score


def linear_source(intercept: float, mean: Sequence[float], scale: Sequence[float],
                  coef: Sequence[float], xs: Sequence[str]) -> str:
    """An expression: intercept + sum_j (xs[j] - mean_j) / scale_j * coef_j, added in j
    order (sequence._Fit.decision's operations, one row)."""
    terms = [f"({x} - {_lit(m)}) / {_lit(s)} * {_lit(c)}"
             for x, m, s, c in zip(xs, mean, scale, coef, strict=True)]
    return " + ".join([_lit(intercept), *terms])


def _average_path_length(n: int) -> float:
    """sklearn.ensemble._iforest._average_path_length of one leaf size."""
    from sklearn.ensemble._iforest import _average_path_length as apl

    return float(apl([n])[0])
