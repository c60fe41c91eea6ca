"""The lake contracts of the learning loop: lesson_atoms, lessons, watchdog_alerts, braids,
meta_braids and active_priors (docs/learning.md describes every column)."""

from __future__ import annotations

import pandera.pandas as pa

from lotus_core.learning.atoms import COLUMNS as ATOM_COLUMNS
from lotus_core.learning.braids import COLUMNS as BRAID_COLUMNS
from lotus_core.learning.lessons import COLUMNS as LESSON_COLUMNS
from lotus_core.learning.lessons import STATES
from lotus_core.signals.schema import F64, I64, STR, _c

_STR_NULL = {"activated_on", "expires_on", "challenger_of", "gates", "overlap", "lesson_id",
             "state_since", "first_seen", "reason", "period_from"}
_INTS = {"support", "days", "n_literals", "horizon_s", "sign", "scope_n", "ttl_days",
         "priors_ver", "before_ver"}
_STRS = {"detector_id", "cond_key", "cond_hash", "window", "lesson_id", "rule", "treatment",
         "state", "reason", "state_since", "first_seen", "activated_on", "expires_on",
         "challenger_of", "gates", "overlap", "period_from", "train_window", "quantizer",
         "braid_id", "braid_type",
         "scope", "op", "parents", "coin", "patches", "caps", "members_sample", "kind", "key",
         "source", "date_scored_from"}


def _columns(names: list[str], checks: dict[str, list[pa.Check]] | None = None) -> dict:
    checks = checks or {}
    out = {}
    for n in names:
        extra = checks.get(n, [])
        if n in _INTS:
            out[n] = _c(I64, *extra)
        elif n in _STRS:
            out[n] = _c(STR, *extra, nullable=n in _STR_NULL)
        else:
            out[n] = _c(F64, *extra, nullable=True)
    return out


LESSON_ATOMS_SCHEMA = pa.DataFrameSchema(
    _columns(ATOM_COLUMNS + ["quantizer"], {"support": [pa.Check.ge(1)],
                                           "cond_hash": [pa.Check.str_length(16, 16)]}),
    checks=[pa.Check(lambda d: not d.duplicated(["detector_id", "cond_key"]).any(),
                     element_wise=False, name="unique_detector_cond_key")],
    strict=True, ordered=True, coerce=False, name="lesson_atoms")

LESSONS_SCHEMA = pa.DataFrameSchema(
    _columns(LESSON_COLUMNS, {"state": [pa.Check.isin(list(STATES))],
                              "n_literals": [pa.Check.in_range(1, 3)],
                              "sign": [pa.Check.isin([-1, 0, 1])]}),
    checks=[pa.Check(lambda d: not d.duplicated(["lesson_id"]).any(), element_wise=False,
                     name="unique_lesson_id"),
            pa.Check(lambda d: bool((d.loc[d["state"] == "active", "activated_on"].notna()).all()),
                     element_wise=False, name="active_has_activation_date")],
    strict=True, ordered=True, coerce=False, name="lessons")

WATCHDOG_COLUMNS = ["lesson_id", "detector_id", "rule", "reason", "uplift_oos", "p05_oos",
                    "support_oos"]
WATCHDOG_ALERTS_SCHEMA = pa.DataFrameSchema(
    _columns(WATCHDOG_COLUMNS), strict=True, ordered=True, coerce=False,
    name="watchdog_alerts")

BRAIDS_SCHEMA = pa.DataFrameSchema(
    _columns(BRAID_COLUMNS, {"braid_type": [pa.Check.isin(["micro", "meta", "field"])],
                             "state": [pa.Check.isin(list(STATES))],
                             "phi_mult": [pa.Check.gt(0)]}),
    checks=[pa.Check(lambda d: not d.duplicated(["braid_id"]).any(), element_wise=False,
                     name="unique_braid_id")],
    strict=True, ordered=True, coerce=False, name="braids")

ACTIVE_PRIORS_COLUMNS = ["priors_ver", "before_ver", "source", "kind", "key", "before_value",
                         "after_value"]
ACTIVE_PRIORS_SCHEMA = pa.DataFrameSchema(
    _columns(ACTIVE_PRIORS_COLUMNS, {"kind": [pa.Check.isin(["patch", "cap", "edge"])],
                                     "priors_ver": [pa.Check.ge(1)]}),
    strict=True, ordered=True, coerce=False, name="active_priors")

LEARNING_SCHEMAS = {
    "lesson_atoms": LESSON_ATOMS_SCHEMA,
    "lessons": LESSONS_SCHEMA,
    "watchdog_alerts": WATCHDOG_ALERTS_SCHEMA,
    "braids": BRAIDS_SCHEMA,
    "meta_braids": BRAIDS_SCHEMA,
    "active_priors": ACTIVE_PRIORS_SCHEMA,
}
