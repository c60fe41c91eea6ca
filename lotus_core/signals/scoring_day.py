"""What every coin's scoring of a day shares, made once a day and stored as one lake row
(`scoring_day` daily, then `score_signals` one run per coin).

Scoring a window is per coin given two things that pool across coins and days: the
history quality (sq_* from the earlier days' detector windows, per detector over every
coin and per (detector, coin)) and the detectors' audit status in force. With the data
fingerprint, the active priors and the standing curator actions of the day, they are what
`score_by_coin` resolves once a day (`pipeline._day_scoring`); here they are resolved once
and read by every coin's run, so the coins are scored with the same inputs, whichever
process runs them and whenever (tests/core/signals/test_scoring_day.py: the coins scored
apart give the day scored whole).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pandera.pandas as pa

from lotus_core.curators.council import detector_status
from lotus_core.signals.config import ScoringConfig
from lotus_core.signals.priors import ActivePriors
from lotus_core.signals.quality import History, HistoryQuality, history_quality
from lotus_core.signals.spec import DetectorSpec
from lotus_core.store.pickled import loads, object_row

SCORING_DAY_SCHEMA = pa.DataFrameSchema(
    {"history_days": pa.Column(str), "detectors": pa.Column("int64", pa.Check.ge(0)),
     "priors_ver": pa.Column("int64", pa.Check.ge(0)), "sha256": pa.Column(str),
     "scoring": pa.Column(object)},
    strict=True, ordered=True, coerce=False, name="scoring_day")
"""`scoring_day`: one row, the day's `ScoringDay` (pickled) and what it was made from."""


class ScoringDayMismatch(ValueError):
    """A coin run's detectors are not those the day's scoring inputs were made for."""


@dataclass(frozen=True)
class ScoringDay:
    """The inputs of a day's scoring that are not a coin's own."""

    day: str
    fingerprint: str | None  # "sha256:<hex>" of the day's one recording, None otherwise
    detectors: tuple[str, ...]  # the detector ids (the engine's, then the extra ones)
    history: HistoryQuality
    status: pd.DataFrame  # index detector_id: leakage_ok, adversarial_ok, fragility, card_ok
    priors: ActivePriors
    actions: tuple[Mapping[str, Any], ...]  # the standing curator actions read for the day

    def check(self, day: str, specs: Sequence[DetectorSpec]) -> None:
        """Refuses a run on another day, or with other detectors (a changed detectors.yaml
        or exploration set since the day's inputs were made), naming the difference."""
        if day != self.day:
            raise ScoringDayMismatch(f"scoring_day holds {self.day}, not {day}")
        ids = tuple(s.id for s in specs)
        if ids != self.detectors:
            extra, missing = sorted(set(ids) - set(self.detectors)), sorted(
                set(self.detectors) - set(ids))
            raise ScoringDayMismatch(
                f"scoring_day for {day} was made for other detectors (this run adds {extra}, "
                f"lacks {missing}); re-materialise scoring_day for {day} with this config")


def scoring_day(day: str, fingerprint: str | None, history: History, priors: ActivePriors,
                audit: Mapping[str, Mapping[str, Any]] | pd.DataFrame | None,
                specs: Sequence[DetectorSpec], cfg: ScoringConfig,
                actions: Sequence[Mapping[str, Any]]) -> ScoringDay:
    """The day's shared scoring inputs: the history folded into its quality, the audit
    status of `specs`, the fingerprint as `sha256:<hex>`."""
    fp = (fingerprint if not fingerprint or fingerprint.startswith("sha256:")
          else f"sha256:{fingerprint}")
    return ScoringDay(day, fp, tuple(s.id for s in specs),
                      history_quality(history, specs, cfg.sq),
                      detector_status(audit, [s.id for s in specs]), priors,
                      tuple(dict(a) for a in actions))


def scoring_day_row(scoring: ScoringDay) -> pd.DataFrame:
    """The one-row table `scoring_day` stores."""
    return object_row("scoring", scoring, history_days=json.dumps(list(scoring.history.days)),
                      detectors=len(scoring.detectors), priors_ver=int(scoring.priors.version))


def scoring_day_of(table: pd.DataFrame, where: str) -> ScoringDay:
    """The `ScoringDay` of a `scoring_day` row (`where` names it in an error)."""
    return loads(table, "scoring", "scoring_day", where, ScoringDay)
