"""All four audits for every detector of a day: the `detector_audits` rows, the narrow
audit status the curators read, and which production detectors fail."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from lotus_core.audits.adversarial import adversarial
from lotus_core.audits.edge import label_shuffle, rolling_origin_gap
from lotus_core.audits.future_touch import future_touch, rng_for
from lotus_core.audits.result import DEFAULT, AuditConfig
from lotus_core.audits.schema import AUDIT_STATUS_SCHEMA, DETECTOR_AUDITS_SCHEMA
from lotus_core.curators.council import STATUS_COLUMNS
from lotus_core.signals.config import ScoringConfig, load_scoring
from lotus_core.signals.pipeline import detect_day
from lotus_core.signals.spec import DetectorSpec, load_detectors
from lotus_core.time import shift_day


def production_hashes() -> set[str]:
    """Recipe hashes of the shipped detectors.yaml: the cohort a failure must block."""
    return {s.recipe_hash for s in load_detectors().enabled}


def card_ready(spec: DetectorSpec) -> bool:
    """A card can be written: described, with failure modes (cheap, static)."""
    return bool(spec.description.strip()) and len(spec.failure_modes) > 0


def audit_day(frames: pd.DataFrame, day: str, specs: Sequence[DetectorSpec], *,
              history: pd.DataFrame | None = None,
              cfg: AuditConfig = DEFAULT,
              scoring: ScoringConfig | None = None) -> pd.DataFrame:
    """One row per detector (sorted by id) with every audit's pass, metric and detail; the
    audited scores use `scoring`, the configuration the day is scored with (None: the
    packaged scoring.yaml)."""
    hist = history if history is not None and len(history) else None
    scoring = scoring or load_scoring()  # resolved once: every audit below scores with it
    windows = detect_day(frames, specs, scoring)
    adv = adversarial(frames, specs, day, history=hist, cfg=cfg, scoring=scoring)
    prod = production_hashes()
    rows = []
    for spec in sorted(specs, key=lambda s: s.id):
        mine = windows[windows["detector_id"] == spec.id]
        past = (hist[hist["recipe_hash"] == spec.recipe_hash] if hist is not None
                else mine.iloc[:0])
        ft = future_touch(frames, spec, day, history=hist, cfg=cfg, scoring=scoring)
        ls = label_shuffle(mine, rng_for(cfg, spec, "label_shuffle"), cfg)
        gap = rolling_origin_gap(pd.concat([past, mine], ignore_index=True), cfg)
        ad = adv[spec.id]
        rows.append({
            "detector_id": spec.id, "recipe_hash": spec.recipe_hash,
            "production": spec.recipe_hash in prod, "n_windows": len(mine),
            "future_touch_ok": ft.passed, "future_touch_metric": ft.metric,
            "label_shuffle_ok": ls.passed, "label_shuffle_metric": ls.metric,
            "label_shuffle_verdict": ls.detail.split(":")[0],
            "rolling_gap_ok": gap.passed, "rolling_gap_metric": gap.metric,
            "adversarial_ok": ad.passed, "adversarial_metric": ad.metric,
            "leakage_ok": ft.passed and ls.passed and gap.passed,
            "fragility": float(np.clip(ad.metric, 0.0, 1.0)),
            "card_ok": card_ready(spec),
            "detail": json.dumps({r.name: r.detail for r in (ft, ls, gap, ad)}, sort_keys=True),
        })
    out = pd.DataFrame(rows)
    for c in ("detector_id", "recipe_hash", "label_shuffle_verdict", "detail"):
        out[c] = out[c].astype("str")
    out["n_windows"] = out["n_windows"].astype(np.int64)
    return DETECTOR_AUDITS_SCHEMA.validate(out)


def status_of(audits: pd.DataFrame) -> pd.DataFrame:
    """The curators' input: detector_id plus exactly the status columns they accept."""
    return AUDIT_STATUS_SCHEMA.validate(
        audits[["detector_id", *STATUS_COLUMNS]].reset_index(drop=True))


AUDIT_STATUS_LOOKBACK_DAYS = 7
"""How far back the audit status that curates a day may come from (see `status_day`)."""


def status_day(days: Iterable[str], day: str,
               lookback_days: int = AUDIT_STATUS_LOOKBACK_DAYS) -> str | None:
    """The day whose audit status curates `day`: the newest of `days` strictly before it and
    at most `lookback_days` earlier, or None (no status: every detector ok, fragility 0).

    Never `day` itself: its audits are measured on the outcomes of the very windows they
    would curate (a look-ahead), and live, while `day` is scored, they do not exist yet. One
    rule for the nightly `score_signals` and the live engine, so both curate alike."""
    first = shift_day(day, -lookback_days)
    earlier = sorted(d for d in days if first <= d < day)
    return earlier[-1] if earlier else None


def status_in_force(statuses: pd.DataFrame | None, day: str) -> pd.DataFrame | None:
    """`statuses` (detector_audit_status rows of several days, with a `date` column, as the
    lake window reads them) cut to the day `status_day` picks; None when there is none."""
    if statuses is None or len(statuses) == 0 or "date" not in statuses:
        return None
    pick = status_day(set(statuses["date"].astype(str)), day)
    if pick is None:
        return None
    return statuses[statuses["date"].astype(str) == pick].drop(columns="date").reset_index(
        drop=True)


def failing_production(audits: pd.DataFrame) -> list[str]:
    """Production detectors whose recipe touches the future: what blocks publication.

    A future-touch failure is a defect in the shipped code (it reads data received after
    the window), so nothing scored with it can be trusted. The statistical audits (label
    shuffle, rolling-origin gap, adversarial) are evidence about one detector on one day:
    the leakage / adversarial curators veto that detector's windows instead.
    """
    bad = audits["production"] & ~audits["future_touch_ok"]
    return sorted(audits.loc[bad, "detector_id"].tolist())
