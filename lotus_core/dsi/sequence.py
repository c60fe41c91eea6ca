"""A small learned sequence classifier: will the mid make a label-sized move soon?

Logistic regression (standardised inputs, L2) over a short window of lagged, scale-free
features (features.sequence_matrix), trained only on earlier days against the mechanical
move label (labels.py). Its reliability is counted out of sample: a second model fitted
on all history days but the last is judged on the last. Too little history or a single
label class: the documented fallback, f = 0, z = 0, conf = 0.

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. `run` scores a coin-day with `_Fit.decision`; `step` writes the same
decision as straight-line code (`linear_source`, ~3 µs a row where a per-row sklearn call
costs ~100 µs) over features.sequence_row, then the same clip (P_CLIP), z and flag.
tests/core/dsi/test_dsi.py checks DsiStream against `annotate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit, logit

from lotus_core.dsi.expert_spec import ExpertSpec
from lotus_core.dsi.experts import SILENT, CoinFrames, Day, Expert, ExpertOutput, Out
from lotus_core.dsi.features import FeatureStep, sequence_matrix, sequence_row
from lotus_core.dsi.params import SequenceParams, parse_params
from lotus_core.dsi.windows import Inputs, Program, clip_step, expit_source, lit

if TYPE_CHECKING:  # sklearn is imported where a model is fitted: ~1 s every process spared
    from sklearn.pipeline import Pipeline

P_CLIP = (1e-6, 1 - 1e-6)
"""The probability's clip before its logit: z stays finite."""


@dataclass(frozen=True)
class _Fit:
    model: Pipeline
    base_logit: float  # logit of the training label rate

    def decision(self, x: np.ndarray) -> np.ndarray:
        """The model's log-odds, summed feature by feature in a fixed order: elementwise
        arithmetic gives every row the same bits whatever the batch (a BLAS product may
        not, and a frame must not change when later frames are cut off)."""
        scaler, lr = self.model[0], self.model[-1]
        xs = (x - scaler.mean_) / scaler.scale_
        acc = np.full(len(x), float(lr.intercept_[0]))
        for j, c in enumerate(lr.coef_[0]):
            acc += xs[:, j] * c
        return acc

    def decision_source(self, xs: Sequence[str]) -> str:
        """`decision` at one row, of the names xs (its columns)."""
        scaler, lr = self.model[0], self.model[-1]
        return linear_source(float(lr.intercept_[0]), scaler.mean_.tolist(),
                             scaler.scale_.tolist(), lr.coef_[0].tolist(), xs)


def linear_source(intercept: float, mean: Sequence[float], scale: Sequence[float],
                  coef: Sequence[float], xs: Sequence[str]) -> str:
    """An expression: intercept + sum_j (xs[j] - mean_j) / scale_j * coef_j, added in j
    order (_Fit.decision's operations, one row)."""
    terms = [f"({x} - {lit(m)}) / {lit(s)} * {lit(c)}"
             for x, m, s, c in zip(xs, mean, scale, coef, strict=True)]
    return " + ".join([lit(intercept), *terms])


class SequenceExpert(Expert):
    """z = logit p - logit(training base rate) (clipped to +-z_cap); f = 1{z >= flag_lift};
    conf = p."""

    learned = True
    uses_features = True

    def __init__(self, spec: ExpertSpec, seed: int, z_cap: float) -> None:
        super().__init__(spec, seed, z_cap)
        self.params: SequenceParams = parse_params(SequenceParams, spec.spec, spec.id)
        self.current: _Fit | None = None
        self._history: list[tuple[int, ExpertOutput]] = []

    def _matrix(self, coin: CoinFrames) -> np.ndarray:
        return sequence_matrix(coin.features, self.params.lags, self.params.windows)

    def _train(self, days: Sequence[Day]) -> tuple[_Fit | None, int]:
        """Fit on a seeded subsample of the labelled frames of `days` (None: too little)."""
        coins = [c for d in days for c in d.coins]
        y = np.concatenate([d.y for d in days]) if days else np.zeros(0)
        ok = np.flatnonzero(~np.isnan(y))
        if len(ok) < self.params.min_rows:
            return None, 0
        take = np.sort(self.rng().choice(ok, size=min(len(ok), self.params.fit_rows),
                                         replace=False))
        yt = y[take].astype(int)
        rate = float(yt.mean())
        if rate in (0.0, 1.0):
            return None, 0
        starts = np.concatenate(([0], np.cumsum([len(c) for c in coins])))
        x = np.concatenate([self._matrix(c)[take[(take >= a) & (take < b)] - a]
                            for c, a, b in zip(coins, starts[:-1], starts[1:], strict=True)])
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(StandardScaler(), LogisticRegression(
            C=self.params.C, solver="newton-cholesky", max_iter=100))
        model.fit(x, yt)
        return _Fit(model, float(logit(rate))), len(take)

    def fit(self, days: Sequence[Day]) -> None:
        self.current, self.fit_rows = self._train(days)
        self.fitted = self.current is not None
        self._history = []
        if len(days) >= 2:
            earlier, _ = self._train(days[:-1])
            if earlier is not None:
                last = ExpertOutput.concat([self._output(earlier, c) for c in days[-1].coins])
                self._history = [(len(days) - 1, last)]

    def history_outputs(self, days: Sequence[Day]) -> list[tuple[int, ExpertOutput]]:
        """Only the last history day, judged by a model that never saw it."""
        return self._history

    def run(self, coin: CoinFrames) -> ExpertOutput:
        if self.current is None or len(coin) == 0:
            return ExpertOutput.silent(len(coin))
        return self._output(self.current, coin)

    def _output(self, fit: _Fit, coin: CoinFrames) -> ExpertOutput:
        p = np.clip(expit(fit.decision(self._matrix(coin))), *P_CLIP)
        z = np.clip(logit(p) - fit.base_logit, -self.z_cap, self.z_cap)
        f = (z >= self.params.flag_lift).astype(np.int8)
        return ExpertOutput(f, z, p, np.zeros(len(p), np.int8))

    def step(self, prog: Program, cols: Inputs, feats: FeatureStep) -> Out:
        """run (_matrix, then _output) at one row: sequence_row feeds the fitted decision."""
        fit = self.current
        if fit is None:
            return SILENT
        p = self.params
        xs = sequence_row(prog, feats, p.lags, p.windows)
        acc, prob, z, f = prog.name("decision"), prog.name("prob"), prog.name("z"), prog.name("f")
        (lo, hi), cap = P_CLIP, self.z_cap
        prog.add(f"{acc} = " + fit.decision_source(xs))
        prog.add(expit_source(prob, acc))
        prog.add(f"""
            {prob} = {clip_step(prob, lo, hi)}
            # scipy's logit, bit for bit, for 0 < prob < 1 or NaN (its log1p form near 1/2)
            if {prob} < 0.3 or {prob} > 0.65:
                {z} = log({prob} / (1 - {prob})) - {lit(fit.base_logit)}
            else:
                _q = 2 * ({prob} - 0.5)
                {z} = log1p(_q) - log1p(-_q) - {lit(fit.base_logit)}
            {z} = {clip_step(z, -cap, cap)}
            {f} = 1 if {z} >= {lit(p.flag_lift)} else 0
            """)
        return Out(f, z, prob, z_bound=abs(cap), c_unit=True)
