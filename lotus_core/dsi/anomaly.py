"""Anomaly scorer: an IsolationForest fitted on earlier days' frames, never on today's.

Score s = -score_samples (higher = easier to isolate = more unusual). The flag threshold
and the z scale come from the history's own score distribution, so "unusual" means
unusual relative to the days the model has seen. No (or too little) history: the
documented fallback, f = 0, z = 0, conf = 0 on every frame.

One definition: the fitted forest is scored by one compiled kernel (forest.py) in both
paths: `AnomalyExpert.run` (and the fit's history scores) over a coin-day's feature matrix,
`step` over one row, against the same history scores, threshold and z scale (`_span`).
tests/core/dsi/test_dsi.py checks the kernel against sklearn's `score_samples`
(test_forest_kernel_equals_sklearn_at_its_thresholds) and DsiStream against `annotate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from lotus_core.dsi.expert_spec import ExpertSpec
from lotus_core.dsi.experts import SILENT, CoinFrames, Day, Expert, ExpertOutput, Out
from lotus_core.dsi.features import FeatureStep, anomaly_matrix, anomaly_row
from lotus_core.dsi.params import AnomalyParams, parse_params
from lotus_core.dsi.windows import Inputs, Program, clip_step, lit

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
        from lotus_core.dsi.forest import forest_arrays, forest_scores  # numba: on first use

        assert self.model is not None
        return forest_scores(forest_arrays(self.model), anomaly_matrix(coin.features))

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
        from lotus_core.dsi.forest import forest_arrays, row_scorer

        xs = anomaly_row(feats)
        score = prog.const("forest", row_scorer(forest_arrays(self.model)))
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
