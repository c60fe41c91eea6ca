"""`feed_dead_letter`: the feed lines a day's `raw_feed` refused, replaced per day.

Functions take an open `Tx`, so `OpsDb` methods and later callers that need several
tables in one transaction share the same code.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, cast

from lotus_core.store.connection import Tx

TABLE = "feed_dead_letter"
REQUIRED = ("line_no", "reason")
OPTIONAL = ("recv_ts_ms", "channel", "coin", "detail", "raw", "run_id")
COLUMNS = (
    "id", "day", "source", "line_no", "recv_ts_ms", "channel", "coin",
    "reason", "detail", "raw", "run_id", "created_at",
)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INSERT = (
    f"INSERT INTO {TABLE} (day, source, line_no, recv_ts_ms, channel, coin, reason, detail,"
    " raw, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def check_day(day: str) -> str:
    """`day` if it is a 'YYYY-MM-DD' string; a clear error beats a CHECK violation."""
    try:
        if isinstance(day, str) and _DAY.fullmatch(day) and date.fromisoformat(day):
            return day
    except ValueError:
        pass
    raise ValueError(f"day must be a 'YYYY-MM-DD' string, got {day!r}")


def _as_mapping(row: Mapping[str, Any] | Any) -> Mapping[str, Any]:
    # Accept the parser's DeadLetter dataclass as well as plain dicts.
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return dataclasses.asdict(row)
    return cast(Mapping[str, Any], row)


def _optional(value: Any, cast: type) -> Any:
    # NaN is how pandas spells a missing value in a float column.
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return cast(value)


def _params(day: str, source: str, i: int, row: Mapping[str, Any], run_id: str | None) -> tuple:
    missing = [k for k in REQUIRED if row.get(k) is None]
    unknown = sorted(set(row) - set(REQUIRED) - set(OPTIONAL))
    if missing or unknown:
        raise ValueError(
            f"dead letter #{i} for {day}: missing {missing}, unknown {unknown}; "
            f"expected keys {list(REQUIRED + OPTIONAL)}"
        )
    # int()/str() also turn numpy scalars into types both drivers can bind.
    return (
        day,
        source,
        int(row["line_no"]),
        _optional(row.get("recv_ts_ms"), int),
        _optional(row.get("channel"), str),
        _optional(row.get("coin"), str),
        str(row["reason"]),
        _optional(row.get("detail"), str),
        _optional(row.get("raw"), str),
        _optional(row.get("run_id", run_id), str),
    )


def replace(
    tx: Tx, day: str, source: str, rows: Iterable[Mapping[str, Any]], run_id: str | None = None
) -> int:
    """Delete every dead letter of `day`, insert `rows`; returns how many were inserted."""
    check_day(day)
    params = [_params(day, source, i, _as_mapping(r), run_id) for i, r in enumerate(rows)]
    tx.lock(f"{TABLE}:{day}")  # two replacements of one day must not interleave
    tx.execute(f"DELETE FROM {TABLE} WHERE day = ?", (day,))
    if params:
        tx.executemany(_INSERT, params)
    return len(params)


def append(
    tx: Tx, day: str, source: str, rows: Iterable[Mapping[str, Any]], run_id: str | None = None
) -> int:
    """Insert `rows` for `day` without touching its others (the live feed's dead letters;
    the nightly `raw_feed` later replaces the day with the full set from the recording)."""
    check_day(day)
    params = [_params(day, source, i, _as_mapping(r), run_id) for i, r in enumerate(rows)]
    if params:
        tx.executemany(_INSERT, params)
    return len(params)


def _created_at(value: str | datetime) -> datetime:
    # SQLite stores ISO text, PostgreSQL a timestamptz: hand back one type, in UTC.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC)


def select(tx: Tx, day: str | None = None) -> list[dict[str, Any]]:
    """Dead letters of `day` (all days when None), in file order."""
    where, params = ("WHERE day = ?", (check_day(day),)) if day is not None else ("", ())
    rows = tx.query(
        f"SELECT {', '.join(COLUMNS)} FROM {TABLE} {where} ORDER BY day, source, line_no, id",
        params,
    )
    for row in rows:
        row["created_at"] = _created_at(row["created_at"])
    return rows


def count(tx: Tx, day: str | None = None) -> int:
    """How many dead letters `day` has (all days when None)."""
    if day is None:
        return int(tx.scalar(f"SELECT COUNT(*) FROM {TABLE}"))
    return int(tx.scalar(f"SELECT COUNT(*) FROM {TABLE} WHERE day = ?", (check_day(day),)))
