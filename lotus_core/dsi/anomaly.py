"""Anomaly scorer: an IsolationForest fitted on earlier days' frames, never on today's.

Score s = -score_samples (higher = easier to isolate = more unusual). The flag threshold
and the z scale come from the history's own score distribution, so "unusual" means
unusual relative to the days the model has seen. No (or too little) history: the
documented fallback, f = 0, z = 0, conf = 0 on every frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.ensemble import IsolationForest

from lotus_core.dsi.expert_spec import ExpertSpec
from lotus_core.dsi.experts import CoinFrames, Day, Expert, ExpertOutput
from lotus_core.dsi.features import anomaly_matrix
from lotus_core.dsi.params import AnomalyParams, parse_params


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

    def _output(self, s: np.ndarray) -> ExpertOutput:
        span = max(self.threshold - self.median, 1e-12)
        z = np.clip((s - self.median) / span, 0.0, self.z_cap)
        f = (s >= self.threshold).astype(np.int8)
        conf = np.searchsorted(self.sorted_scores, s, side="right") / len(self.sorted_scores)
        return ExpertOutput(f, z, conf.astype("float64"), np.zeros(len(s), np.int8))
