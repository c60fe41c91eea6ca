"""Everything DSI learns, learned from earlier days only:
`fit_dsi(history, registry=...) -> DsiModel`.

The model holds each active expert (with its fitted scikit-learn model, if any), its Beta
reliability posterior and fusion weight, and the label's base rate. A day is annotated by
`annotate(frames, model)`; the nightly asset fits on the previous days' MicroTape, the live
daemon can fit once a night and annotate frame by frame with the same object.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lotus_core.dsi.experts import CoinFrames, Day, Expert
from lotus_core.dsi.grammar import coin_slices
from lotus_core.dsi.history import FitHistory, bounded
from lotus_core.dsi.kinds import make_expert
from lotus_core.dsi.labels import move_label
from lotus_core.dsi.registry import ExpertSpec, LabelParams, Registry
from lotus_core.dsi.reliability import Counts, Posterior, count, weight
from lotus_core.microtape.schema import MICROTAPE_COLUMNS


@dataclass
class ExpertState:
    """One active expert with what the history taught it."""

    expert: Expert
    prior: Posterior
    posterior: Posterior
    counts: Counts
    weight: float
    fit_seconds: float

    @property
    def id(self) -> str:
        return self.expert.spec.id


@dataclass
class DsiModel:
    registry: Registry
    experts: list[ExpertState]
    base_prior: Posterior
    base: Posterior
    history_days: list[str] = field(default_factory=list)

    @property
    def base_rate(self) -> float:
        return self.base.mean


LABEL_INPUTS = ("coin", "ts_ms", "mid_px", "rv_bps")
"""What every day needs whatever the experts: its order and the mechanical label's inputs."""


def tape_columns(registry: Registry) -> list[str]:
    """The MicroTape columns fitting and annotating with `registry` read: the label's and
    every active expert's (`Expert.reads`), in the tape's order; a name the tape does not
    have comes last (reading it fails, naming it). A step reads only these."""
    need = set(LABEL_INPUTS)
    for spec in registry.active:
        need |= make_expert(spec, registry.seed, registry.fusion.z_cap).reads()
    known = [c for c in MICROTAPE_COLUMNS if c in need]
    return known + sorted(need - set(known))


def split_coins(frames: pd.DataFrame, label: LabelParams) -> list[CoinFrames]:
    """Per-coin views of frames sorted by (coin, ts_ms)."""
    return [CoinFrames(frames.iloc[lo:hi], label) for lo, hi in coin_slices(frames)]


def history_days(history: pd.DataFrame | None, label: LabelParams) -> list[Day]:
    """Split the history input (earlier days concatenated, with a `date` column) by day."""
    if history is None or len(history) == 0:
        return []
    if "date" in history.columns:
        groups = [(str(k), g.drop(columns="date")) for k, g in history.groupby("date", sort=True)]
    else:
        groups = [("history", history)]
    return [make_day(key, g.sort_values(["coin", "ts_ms"], kind="stable").reset_index(drop=True),
                     label) for key, g in groups]


def make_day(key: str, frames: pd.DataFrame, label: LabelParams) -> Day:
    """A history day from its frames sorted by (coin, ts_ms), indexed from 0."""
    y, move = move_label(frames, label)
    return Day(key=key, frames=frames, coins=split_coins(frames, label), y=y, move=move)


def fit_expert(spec: ExpertSpec, days: Sequence[Day], reg: Registry
               ) -> tuple[Expert, dict[str, Counts]]:
    """One expert fitted on `days`, with its episode counts per day (hits of its flags
    against the mechanical label): `fit_dsi` sums them into its reliability; the
    governor's re-fit arm tests the counts of the day a new window adds."""
    expert = make_expert(spec, reg.seed, reg.fusion.z_cap)
    expert.fit(days)
    by_day: dict[str, Counts] = {d.key: Counts() for d in days}
    for i, out in expert.history_outputs(days):
        d = days[i]
        by_day[d.key] = by_day[d.key] + count(out, d.frames["coin"].to_numpy(dtype=object),
                                              d.frames["ts_ms"].to_numpy(), d.y, d.move,
                                              reg.cadence_ms)
    return expert, by_day


def fit_dsi(history: pd.DataFrame | FitHistory | None, *, registry: Registry) -> DsiModel:
    """Fit every active expert and its reliability on `history` (earlier days only).

    `history`: earlier days with a `date` column (above the registry's `history_rows` cut
    to whole coin-days, `lotus_core.dsi.history.bounded`), or `read_history`'s days. An
    empty or missing history is the documented fallback: learned experts stay silent (f = 0,
    z = 0, conf = 0), every reliability is its prior, the base rate is its prior.
    `registry`: the one the entry point loaded, so nightly and live fit the same experts.
    """
    reg = registry
    if isinstance(history, FitHistory):  # read_history's: bounded, a day at a time
        days = [make_day(key, frames, reg.label) for key, frames in history.days]
    else:
        days = history_days(bounded(history, reg.history_rows), reg.label)
    base_prior = Posterior(reg.fusion.base_alpha, reg.fusion.base_beta)
    ys = np.concatenate([d.y for d in days]) if days else np.zeros(0)
    ys = ys[~np.isnan(ys)]
    base = base_prior.update(float(ys.sum()), float(len(ys)))
    states = []
    for spec in reg.active:
        t0 = time.perf_counter()
        expert, by_day = fit_expert(spec, days, reg)
        total = sum(by_day.values(), Counts())
        prior = Posterior(spec.prior_alpha, spec.prior_beta)
        post = prior.update(total.successes, total.trials)
        expert.reliability = post.mean
        states.append(ExpertState(expert=expert, prior=prior, posterior=post, counts=total,
                                  weight=weight(post.mean, base.mean, reg.fusion.w_max),
                                  fit_seconds=time.perf_counter() - t0))
    return DsiModel(registry=reg, experts=states, base_prior=base_prior, base=base,
                    history_days=[d.key for d in days])


def expert_ids(model: DsiModel) -> Sequence[str]:
    return [s.id for s in model.experts]
