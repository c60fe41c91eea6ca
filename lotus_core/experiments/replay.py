"""Replay one stored day through the same stage functions the nightly assets call.

No stage is copied here: the DSI is `fit_dsi` + `annotate` (only when the alternative
touches it; otherwise the stored annotations are used), the scoring, council and
publication are `score_day`, each handed the alternative's config objects and the day's
standing curator actions (`DayInputs.actions`), as the nightly `score_signals` hands them.
"""

from __future__ import annotations

import pandas as pd

from lotus_core.dsi import annotate, fit_dsi
from lotus_core.experiments.alternative import StageConfig
from lotus_core.experiments.inputs import DayInputs
from lotus_core.signals.pipeline import ExtraDetectors, SignalDay, score_day
from lotus_core.signals.priors import ActivePriors


def replay_dsi(inputs: DayInputs, cfg: StageConfig) -> pd.DataFrame:
    """The day's dsi_annotations refitted with `cfg.registry` on the days before (the
    dsi_annotations asset's rule: fit on earlier days only, annotate this day)."""
    if inputs.dsi_history is None:
        raise ValueError(f"replay of {inputs.day}: the DSI must be refitted but its history "
                         "was not loaded (load_day(..., with_dsi_history=True))")
    model = fit_dsi(inputs.dsi_history if len(inputs.dsi_history) else None,
                    registry=cfg.registry)
    return annotate(inputs.frames, model).annotations


def replay_day(inputs: DayInputs, cfg: StageConfig, priors: ActivePriors, *,
               refit_dsi: bool, dsi: pd.DataFrame | None = None,
               extra: ExtraDetectors | None = None) -> SignalDay:
    """The day scored under `cfg` (the KPIs' outcomes are left to the comparison). The DSI
    is refitted (`refit_dsi`), given (`dsi`: expert credit fuses subsets of one fit), or
    the stored annotations. The council applies `inputs.actions` (the standing vetoes and
    nudges in force per window), as it did nightly. `extra`: bred detectors scored beside
    the packaged ones (`score_day`'s exploration set, as `score_signals` passes it)."""
    if dsi is None:
        dsi = replay_dsi(inputs, cfg) if refit_dsi else inputs.dsi
    history = inputs.history if inputs.history is not None and len(inputs.history) else None
    return score_day(inputs.frames, inputs.day, fingerprint=inputs.fingerprint,
                     history=history, dsi=dsi, priors=priors, audit=inputs.audit,
                     detectors=cfg.detectors, scoring=cfg.scoring, council=cfg.council,
                     evaluate=False, actions=inputs.actions, extra=extra)
