"""Everything DSI learns, learned from earlier days only:
`fit_dsi(history, registry=...) -> DsiModel`.

The model holds each active expert (with its fitted scikit-learn model, if any), its Beta
reliability posterior and fusion weight, and the label's base rate. A day is annotated by
`annotate(frames, model)`; the nightly asset fits on the previous days' MicroTape, the live
daemon can fit once a night and annotate frame by frame with the same object.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
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
from lotus_core.store import pickled


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


def fit_dsi(history: pd.DataFrame | FitHistory | None, *, registry: Registry,
            reuse: bool = False) -> DsiModel:
    """Fit every active expert and its reliability on `history` (earlier days only).

    `history`: earlier days with a `date` column (above the registry's `history_rows` cut
    to whole coin-days, `lotus_core.dsi.history.bounded`), or `read_history`'s days. An
    empty or missing history is the documented fallback: learned experts stay silent (f = 0,
    z = 0, conf = 0), every reliability is its prior, the base rate is its prior.
    `registry`: the one the entry point loaded, so nightly and live fit the same experts.

    Every fit is kept, pickled as `dsi_model` stores it, by the content it read
    (`_FITTED`). `reuse=True` (the live engine's night context) takes a kept fit of the
    same content instead of fitting again: a copy of the model as the nightly annotation
    reads it back from the lake (`stored.model_of`), so it scores as the nightly does. A
    day's nightly `dsi_model` and its `live_parity` replay, in one process, then fit once
    (the fit was a sixth of the replay's CPU). The nightly asset fits anew (`reuse=False`):
    the row it stores is a fresh fit's, whatever ran before in the process.
    """
    key = _fit_key(history, registry)
    blob = _FITTED.get(key) if key is not None and reuse else None
    if blob is not None:
        _FITTED.move_to_end(key)  # type: ignore[arg-type]
        model = pickled.restore(blob)
        assert isinstance(model, DsiModel)
        return model
    model = _fit_dsi(history, registry)
    if key is not None:
        _FITTED[key] = pickled.dumps(model)
        while len(_FITTED) > FITS_KEPT:
            _FITTED.popitem(last=False)
    return model


FITS_KEPT = 1
"""Fitted models a process keeps, pickled, by the content of what they were fitted on
(~7 MB for 3 days of 3 coins): the newest, which a day's live night context reads after
its nightly fit."""

_FITTED: OrderedDict[str, bytes] = OrderedDict()


def _fit_key(history: pd.DataFrame | FitHistory | None, registry: Registry) -> str | None:
    """sha256 of everything `fit_dsi` reads: the registry (pickled canonically) and each
    history frame's day, columns, dtypes, index and values, numeric columns by their bytes
    (exact), others by their text; None (no memo) for a frame it cannot read so."""
    digest = hashlib.sha256(pickled.dumps(registry))
    if isinstance(history, FitHistory):
        days = list(history.days)
    elif history is None:
        days = []
    else:
        days = [("", history)]
    for day, frame in days:
        digest.update(f"\x1e{day}\x1e{list(frame.columns)!r}\x1e{list(map(str, frame.dtypes))!r}"
                      .encode())
        for values in (frame.index.to_numpy(), *(frame[c].to_numpy() for c in frame.columns)):
            if values.dtype.kind in "biufM":
                digest.update(np.ascontiguousarray(values).tobytes())
            elif all(type(v) is str for v in values):
                digest.update("\x1f".join(values).encode() + b"\x1d")
            else:
                return None
    return digest.hexdigest()


def _fit_dsi(history: pd.DataFrame | FitHistory | None, registry: Registry) -> DsiModel:
    """`fit_dsi` without the memo."""
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
