"""Curator KPIs for the API: the council's nightly `curator_kpis` (lake) and the log's counts.

The nightly table (docs/curators.md) judges the council after the fact on realised outcomes;
the API serves one day of it (the newest by default) as rows, read-only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lotus_core.store.lake import LakeError, open_lake

ASSET = "curator_kpis"


def lake_kpis(lake_root: Path | str | None, day: str | None = None
              ) -> tuple[str | None, list[dict[str, Any]]]:
    """(day, rows) of curator_kpis for `day` (None: the newest partition); (None, []) when
    the lake has none. NaN values (a rate with no windows) become None for JSON."""
    if lake_root is None:
        return None, []
    lake = open_lake(lake_root)
    days = lake.days(ASSET)
    if day is None:
        if not days:
            return None, []
        day = days[-1]
    elif day not in days:
        raise LakeError(f"no {ASSET} partition for {day}; have {days[-3:]} (newest)")
    frame = lake.read(ASSET, day)
    rows = []
    for rec in frame.to_dict("records"):
        value = rec.get("value")
        if isinstance(value, float) and math.isnan(value):
            value = None
        rows.append({"kpi": str(rec["kpi"]), "scope": str(rec["scope"]), "value": value,
                     "n": None if rec.get("n") is None else int(rec["n"])})
    return day, rows
