"""The learned experts' fitted scikit-learn models as plain-Python functions of one row,
equal bit for bit to the batch: a per-row sklearn call costs ~100 µs, these ~10 µs (the
forest) and ~3 µs (the linear model). Each is generated source, compiled once per model.

`compile_linear`: the sequence expert's `_Fit.decision` (standardise, then the intercept
plus each coefficient's term, summed in column order) as straight-line code.

`compile_forest`: the anomaly expert's IsolationForest `-score_samples`. Each tree becomes
nested `if x_j <= t:` blocks that add the leaf's depth term, summed tree by tree in
sklearn's order, then `2 ** -(depths / denominator)`: the operations of
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
_CACHE: weakref.WeakKeyDictionary[Any, dict[tuple[tuple[int, bool], ...], Scorer]] = \
    weakref.WeakKeyDictionary()  # a fitted forest's scorers: compiled once per model


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


def _tree_lines(tree: Any, leaf_term: np.ndarray, cols: list[int]) -> list[str]:
    left, right = tree.children_left, tree.children_right
    feature, threshold = tree.feature, tree.threshold
    nan_left = tree.missing_go_to_left
    lines: list[str] = []
    stack: list[tuple[int, int]] = [(0, 1)]
    while stack:
        node, depth = stack.pop()
        pad = "    " * depth
        if node < 0:  # the `else:` marker of the node -node - 1
            lines.append(f"{pad}else:")
            continue
        if left[node] == -1:
            lines.append(f"{pad}d += {_lit(leaf_term[node])}")
            continue
        x, cut = f"x{cols[int(feature[node])]}", _lit(float32_cut(float(threshold[node])))
        test = f"not ({x} > {cut})" if nan_left[node] else f"{x} <= {cut}"
        lines.append(f"{pad}if {test}:")
        stack += [(int(right[node]), depth + 1), (-node - 1, depth), (int(left[node]), depth + 1)]
    return lines


def compile_forest(forest: Any, inputs: Sequence[tuple[int, bool]]) -> Scorer:
    """`score(v) -> float`, equal to `-forest.score_samples(x[None])[0]` for the row x with
    x_j = v[i] (or |v[i]|) for inputs[j] = (i, absolute)."""
    key = tuple(inputs)
    cached = _CACHE.get(forest, {}).get(key)
    if cached is not None:
        return cached
    n = int(forest.n_features_in_)
    if len(inputs) != n:
        raise ValueError(f"compile_forest: {len(inputs)} inputs for {n} features")
    subsample = forest._max_features != n
    denominator = len(forest.estimators_) * float(
        _average_path_length(forest._max_samples))
    body = ["def score(v):", "    d = 0.0"]
    body += [f"    x{j} = abs(v[{i}])" if a else f"    x{j} = v[{i}]"
             for j, (i, a) in enumerate(inputs)]
    for k, est in enumerate(forest.estimators_):
        tree = est.tree_
        # the per-leaf term sklearn adds: depth + average path length of the leaf - 1
        term = forest._decision_path_lengths[k] + forest._average_path_length_per_tree[k] - 1.0
        cols = [int(c) for c in forest.estimators_features_[k]] if subsample else list(range(n))
        body += _tree_lines(tree, term, cols)
    body.append(f"    return 2.0 ** -(d / {_lit(denominator)})" if denominator
                else "    return 0.5")  # sklearn: a one-sample forest scores 2 ** -1
    scope: dict[str, Any] = {}
    exec(compile("\n".join(body), f"<iforest {id(forest):x}>", "exec"), scope)
    score: Scorer = scope["score"]
    _CACHE.setdefault(forest, {})[key] = score
    return score


def compile_linear(intercept: float, mean: Sequence[float], scale: Sequence[float],
                   coef: Sequence[float], inputs: Sequence[tuple[int, int]]
                   ) -> Callable[..., float]:
    """`decision(v0, v1, ...) -> float`: intercept + sum_j (x_j - mean_j) / scale_j * coef_j,
    added in j order, where x_j = v{a}[b] for inputs[j] = (a, b) (b < 0: x_j = v{a})."""
    terms = [f"v{a}[{b}]" if b >= 0 else f"v{a}" for a, b in inputs]
    n_args = max(a for a, _ in inputs) + 1
    body = [f"def decision({', '.join(f'v{a}' for a in range(n_args))}):",
            f"    acc = {_lit(intercept)}"]
    body += [f"    acc += ({x} - {_lit(m)}) / {_lit(s)} * {_lit(c)}"
             for x, m, s, c in zip(terms, mean, scale, coef, strict=True)]
    body.append("    return acc")
    scope: dict[str, Any] = {}
    exec(compile("\n".join(body), "<linear>", "exec"), scope)
    fn: Callable[..., float] = scope["decision"]
    return fn


def _average_path_length(n: int) -> float:
    """sklearn.ensemble._iforest._average_path_length of one leaf size."""
    from sklearn.ensemble._iforest import _average_path_length as apl

    return float(apl([n])[0])
