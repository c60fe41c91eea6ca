"""Lake contracts of the audit layer: detector_audits, detector_audit_status and
detector_cards (docs/audits.md, docs/cards.md)."""

from __future__ import annotations

import pandera.pandas as pa

from lotus_core.signals.schema import _SHA, _UNIT, STR, _c

B, F64, I64 = "bool", "float64", "int64"
_ID = _c(STR, pa.Check.str_length(min_value=1))

DETECTOR_AUDITS_SCHEMA = pa.DataFrameSchema(
    {
        "detector_id": _ID, "recipe_hash": _c(STR, _SHA), "production": _c(B),
        "n_windows": _c(I64, pa.Check.ge(0)),
        "future_touch_ok": _c(B), "future_touch_metric": _c(F64, pa.Check.ge(0)),
        "label_shuffle_ok": _c(B), "label_shuffle_metric": _c(F64, nullable=True),
        "label_shuffle_verdict": _c(STR, pa.Check.isin(["edge", "no_edge"])),
        "rolling_gap_ok": _c(B), "rolling_gap_metric": _c(F64, pa.Check.ge(0)),
        "adversarial_ok": _c(B), "adversarial_metric": _c(F64),
        "leakage_ok": _c(B), "fragility": _c(F64, _UNIT), "card_ok": _c(B),
        "detail": _c(STR),
    },
    strict=True, ordered=True, coerce=False, unique=["detector_id"],
)

AUDIT_STATUS_SCHEMA = pa.DataFrameSchema(
    {"detector_id": _ID, "leakage_ok": _c(B), "adversarial_ok": _c(B),
     "fragility": _c(F64, _UNIT), "card_ok": _c(B)},
    strict=True, ordered=True, coerce=False, unique=["detector_id"],
)

DETECTOR_CARDS_SCHEMA = pa.DataFrameSchema(
    {"detector_id": _ID, "recipe_hash": _c(STR, _SHA), "params_hash": _c(STR, _SHA),
     "card_md": _c(STR, pa.Check.str_length(min_value=1)),
     "card_json": _c(STR, pa.Check.str_startswith("{")), "card_ok": _c(B)},
    strict=True, ordered=True, coerce=False, unique=["detector_id"],
)
