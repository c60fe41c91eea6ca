"""Lake contracts of the breeder: `candidates` (every candidate of a night, survivors with
their card, losers with their reason) and `detector_lineage` (child -> parent edges)."""

from __future__ import annotations

import pandera.pandas as pa

from lotus_core.signals.schema import _SHA, STR, _c

B, F64, I64 = "bool", "float64", "int64"
_ID = _c(STR, pa.Check.str_length(min_value=1))

CANDIDATES_SCHEMA = pa.DataFrameSchema(
    {"date": _ID, "detector_id": _c(STR, pa.Check.str_startswith("bred_")),
     "recipe_hash": _c(STR, _SHA), "origin": _ID, "parents": _c(STR), "survived": _c(B),
     "reason": _c(STR), "windows": _c(I64, pa.Check.ge(0)), "oos_lift": _c(F64, nullable=True),
     "oos_p": _c(F64, nullable=True), "spec_json": _c(STR, pa.Check.str_startswith("{")),
     "card_json": _c(STR, pa.Check.str_startswith("{"))},
    strict=True, ordered=True, coerce=False, unique=["detector_id"],
)

LINEAGE_SCHEMA = pa.DataFrameSchema(
    {"date": _ID, "child_id": _ID, "parent_id": _ID, "origin": _ID, "survived": _c(B)},
    strict=True, ordered=True, coerce=False,
)
