"""The survivor specs a night hands to scoring: the lake table `bred_specs`, one partition
per night, a row per survivor {detector_id, status, recipe_hash, spec_json} with
`status = exploration` (the council caps the publication share of that status).

Scoring day D reads the newest night before D (breeding on night D-1 judged days up to
D-1), so a day is never scored by detectors bred on its own outcomes.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import pandas as pd
import pandera.pandas as pa

from lotus_core.breeding.grammar import STATUS_EXPLORATION, BredSpec
from lotus_core.signals.schema import _SHA, STR, _c

ASSET = "bred_specs"
SPECS_SCHEMA = pa.DataFrameSchema(
    {"detector_id": _c(STR, pa.Check.str_startswith("bred_")),
     "status": _c(STR, pa.Check.isin(["vetted", STATUS_EXPLORATION])),
     "recipe_hash": _c(STR, _SHA), "spec_json": _c(STR, pa.Check.str_startswith("{"))},
    strict=True, ordered=True, coerce=False, unique=["detector_id"],
)


class LakeLike(Protocol):
    def write(self, asset: str, day: str, df: pd.DataFrame, validate: Any = None,
              metadata: Any = None) -> Any: ...
    def read(self, asset: str, day: str, columns: list[str] | None = None) -> pd.DataFrame: ...
    def days(self, asset: str) -> list[str]: ...


def specs_frame(specs: list[dict[str, Any]]) -> pd.DataFrame:
    """NightResult.survivor_specs() as the `bred_specs` table."""
    df = pd.DataFrame({
        "detector_id": [s["detector_id"] for s in specs],
        "status": [s["status"] for s in specs],
        "recipe_hash": [s["recipe_hash"] for s in specs],
        "spec_json": [json.dumps(s["spec"], sort_keys=True, separators=(",", ":"))
                      for s in specs]})
    return df.astype("str")


def write_specs(lake: LakeLike, day: str, specs: list[dict[str, Any]]) -> None:
    lake.write(ASSET, day, specs_frame(specs), validate=SPECS_SCHEMA.validate)


def specs_for_scoring(lake: LakeLike, day: str) -> list[tuple[str, BredSpec]]:
    """(status, spec) of the exploration specs in force when scoring `day`: the newest
    night before it."""
    nights = [d for d in lake.days(ASSET) if d < day]
    if not nights:
        return []
    rows = lake.read(ASSET, nights[-1])
    return [(str(st), BredSpec.model_validate_json(str(js)))
            for st, js in zip(rows["status"], rows["spec_json"], strict=True)
            if st == STATUS_EXPLORATION]
