"""Anomaly scorer: an IsolationForest fitted on earlier days' frames, never on today's.

Score s = -score_samples (higher = easier to isolate = more unusual). The flag threshold
and the z scale come from the history's own score distribution, so "unusual" means
unusual relative to the days the model has seen. No (or too little) history: the
documented fallback, f = 0, z = 0, conf = 0 on every frame.

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. `AnomalyExpert.run` scores a coin-day with sklearn; `step` scores a
row with `compile_forest`, the same fitted forest as plain Python (a per-row sklearn call
costs ~100 µs, the compiled forest ~10 µs), against the same history scores, threshold
and z scale (`_span`). tests/core/dsi/test_dsi.py checks the compiled forest against
sklearn (test_compiled_forest_equals_sklearn_at_its_thresholds) and DsiStream against
`annotate`.

`compile_forest`: each tree becomes nested `(... if x_j <= t else ...)` expressions giving
the leaf's depth term, summed tree by tree in sklearn's order in one expression, then
`2 ** -(depths / denominator)`: the operations of `IsolationForest._compute_score_samples`
on the same doubles (the flag and conf compare the score with history scores, so it must
be exact). It reads the fitted forest's private per-leaf arrays (`_decision_path_lengths`,
`_average_path_length_per_tree`) as sklearn 1.9 keeps them. sklearn casts X to float32
before the trees compare it with their float64 thresholds; a double x passes
`float32(x) <= t` exactly when `x <= t'`, where t' is the largest double that rounds to a
float32 <= t. Using t' keeps the function on doubles. A NaN goes where the node's
`missing_go_to_left` sends it, as in sklearn's `apply`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lotus_core.dsi.expert_spec import ExpertSpec
from lotus_core.dsi.experts import SILENT, CoinFrames, Day, Expert, ExpertOutput, Out
from lotus_core.dsi.features import FeatureStep, anomaly_matrix, anomaly_row
from lotus_core.dsi.params import AnomalyParams, parse_params
from lotus_core.dsi.windows import SCOPE_CONSTANTS, Inputs, Program, clip_step, lit

if TYPE_CHECKING:  # sklearn.ensemble costs ~0.5 s of every process's import: loaded on a fit
    from sklearn.ensemble import IsolationForest

SPAN_FLOOR = 1e-12
"""The z scale's floor (threshold - median of the history scores)."""
Z_LOW = 0.0
"""z's lower clip: a score below the history median is no evidence."""
COARSE = 64
"""The step's rank: a bisect of every COARSE-th history score, then of those COARSE (one
bisect of all of them reads ~16 scattered floats of a list too big for the cache)."""


class AnomalyExpert(Expert):
    """z = (s - median) / (threshold - median) clipped to [0, z_cap]: 1 at the flag level;
    conf = the share of history scores below s."""

    learned = True
    uses_features = True

    def __init__(self, spec: ExpertSpec, seed: int, z_cap: float) -> None:
        super().__init__(spec, seed, z_cap)
        self.params: AnomalyParams = parse_params(AnomalyParams, spec.spec, spec.id)
        self.model: IsolationForest | None = None
        self._history: list[tuple[int, ExpertOutput]] = []

    def fit(self, days: Sequence[Day]) -> None:
        coins = [c for d in days for c in d.coins]
        sizes = np.array([len(c) for c in coins], dtype=np.int64)
        rows = int(sizes.sum())
        if rows < self.params.min_rows:
            return
        take = np.sort(self.rng().choice(rows, size=min(rows, self.params.fit_rows),
                                         replace=False))
        starts = np.concatenate(([0], np.cumsum(sizes)))
        x = np.concatenate([anomaly_matrix(c.features)[take[(take >= a) & (take < b)] - a]
                            for c, a, b in zip(coins, starts[:-1], starts[1:], strict=True)])
        from sklearn.ensemble import IsolationForest

        self.model = IsolationForest(n_estimators=self.params.n_estimators,
                                     max_samples=min(self.params.max_samples, len(x)),
                                     random_state=self.seed, n_jobs=1).fit(x)
        per_day = [[self._score(c) for c in d.coins] for d in days]
        scores = np.sort(np.concatenate([s for day in per_day for s in day]))
        self.sorted_scores = scores
        self.median = float(np.quantile(scores, 0.5))
        self.threshold = float(np.quantile(scores, self.params.flag_quantile))
        self.fitted, self.fit_rows = True, len(x)
        self._history = [(i, ExpertOutput.concat([self._output(s) for s in day]))
                         for i, day in enumerate(per_day)]

    def history_outputs(self, days: Sequence[Day]) -> list[tuple[int, ExpertOutput]]:
        """The fitted model on the history it was fitted on: honest for the label, which
        an unsupervised model never sees."""
        return self._history

    def run(self, coin: CoinFrames) -> ExpertOutput:
        if self.model is None or len(coin) == 0:
            return ExpertOutput.silent(len(coin))
        return self._output(self._score(coin))

    def _score(self, coin: CoinFrames) -> np.ndarray:
        assert self.model is not None
        return -self.model.score_samples(anomaly_matrix(coin.features))

    def _span(self) -> float:
        """The z scale: z = 1 at the flag threshold."""
        return max(self.threshold - self.median, SPAN_FLOOR)

    def _output(self, s: np.ndarray) -> ExpertOutput:
        z = np.clip((s - self.median) / self._span(), Z_LOW, self.z_cap)
        f = (s >= self.threshold).astype(np.int8)
        conf = np.searchsorted(self.sorted_scores, s, side="right") / len(self.sorted_scores)
        return ExpertOutput(f, z, conf.astype("float64"), np.zeros(len(s), np.int8))

    def step(self, prog: Program, cols: Inputs, feats: FeatureStep) -> Out:
        """run (_score, then _output) at one row: the compiled forest's score of the row's
        unsigned features, against the sorted history scores."""
        if self.model is None:
            return SILENT
        xs = anomaly_row(feats)
        score = prog.const("forest", compile_forest(self.model))
        scores = self.sorted_scores.tolist()
        history, coarse = prog.const("history", scores), prog.const("coarse", scores[::COARSE])
        s, f, z, c, i = (prog.name(n) for n in ("score", "f", "z", "conf", "i"))
        n, nc = len(scores), len(scores[::COARSE])
        prog.add(f"""
            {s} = {score}({', '.join(xs)})
            {z} = ({s} - {lit(self.median)}) / {lit(self._span())}
            {z} = {clip_step(z, Z_LOW, self.z_cap)}
            {f} = 1 if {s} >= {lit(self.threshold)} else 0
            {i} = bisect_right({coarse}, {s})
            {c} = bisect_right({history}, {s}, {i} * {COARSE} - {COARSE} if {i} else 0,
                               {i} * {COARSE} if {i} < {nc} else {n}) / {n}
            """)
        return Out(f, z, c, z_bound=max(self.z_cap, Z_LOW), c_unit=True)


# ---------------------------------------------------------------- the compiled forest

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


def _tree_expr(tree: Any, leaf_term: np.ndarray, cols: list[int]) -> str:
    """One tree as nested conditional expressions: its leaf's term for the row."""
    left, right = tree.children_left, tree.children_right
    feature, threshold = tree.feature, tree.threshold
    nan_left = tree.missing_go_to_left

    def node(k: int) -> str:
        if left[k] == -1:
            return lit(leaf_term[k])
        x, cut = f"x{cols[int(feature[k])]}", lit(float32_cut(float(threshold[k])))
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
            f"    return float(POW(2.0, -(({depths}) / {lit(denominator)})))" if denominator
            else "    return 0.5"]  # sklearn: a one-sample forest scores 2 ** -1
    # sklearn's `2 ** array`: numpy's pow
    scope: dict[str, Any] = {**SCOPE_CONSTANTS, "POW": np.power}
    exec(compile("\n".join(body), f"<iforest {id(forest):x}>", "exec"), scope)
    score: Scorer = scope["score"]
    _CACHE[forest] = score
    return score


def _average_path_length(n: int) -> float:
    """sklearn.ensemble._iforest._average_path_length of one leaf size."""
    from sklearn.ensemble._iforest import _average_path_length as apl

    return float(apl([n])[0])
