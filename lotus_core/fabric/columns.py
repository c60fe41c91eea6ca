"""Checking a value against its manifest column before it reaches the database.

The DDL enforces the same rules (CHECK constraints); checking first gives an error that
names the table, column and rule instead of a driver's constraint name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lotus_core.fabric.manifests import Column


def check_value(table: str, col: Column, value: Any) -> None:
    where = f"{table}.{col.name}"
    if value is None:
        if not col.nullable:
            raise ValueError(f"{where} may not be null")
        return
    ok = {
        "text": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "bigint": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "real": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "json": lambda v: isinstance(v, dict if col.shape == "object" else list),
        "timestamp": lambda v: isinstance(v, datetime) and v.tzinfo is not None,
    }[col.type](value)
    if not ok:
        want = f"a JSON {col.shape}" if col.type == "json" else col.type
        if col.type == "timestamp":
            want = "a timezone-aware datetime"
        raise ValueError(f"{where} must be {want}, got {value!r}")
    if col.range is not None:
        lo, hi = col.range
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(f"{where}: {value!r} is outside [{lo}, {hi}] ({col.unit or ''})")
    if col.enum is not None and value not in col.enum:
        raise ValueError(f"{where}: {value!r} is not one of {list(col.enum)}")
