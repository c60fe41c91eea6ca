"""What happened after a chart: the day's charts as a table (`vis_strands`) and the realised
return of each chart's coin after its time (`vis_eval`), the outcome the signals use.

    day = strands_of_day(docs, recorded, "2026-01-05")        # vis_strands rows
    rows = evaluate_strands(day, read_tape, horizons_s=(30, 60, 300, 900))
    seen = realised(lake, docs)                                # strand id -> horizon -> row
    fresh = outcomes_of(rows)                                  # the same, from rows in hand

A chart counts on the day its submitted time (`at`) falls in (UTC); a chart without a
time is in no day. Its outcome at horizon h is `lotus_core.evaluation.evaluate_windows` of a
long window at `at` on its coin (direction +1, no fee): `fwd_ret_bps` the coin's mid return
from the last frame at or before `at` to the last at or before `at + h`, `mfe_bps` /
`mae_bps` the extremes in between. Status `done`, `gap` (measured across a recorded feed
hole), `pending` (the tape does not reach `at + h`: its day ends, or the next day is not in
the lake yet) or `no_tape` (the coin has no MicroTape that day); outcomes are NaN unless
`done` or `gap`, never 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.columns import STR
from lotus_core.evaluation import DEFAULT_HORIZONS_S, GAP_TOLERANCE_S, evaluate_windows
from lotus_core.evaluation.outcomes import READ_COLUMNS
from lotus_core.microtape.schema import empty_frame
from lotus_core.store.lake import Lake, ObjectLake

STRAND_COLUMNS = ["strand_id", "kind", "coin", "ts_ms", "timeframe", "chart_hash", "note",
                  "confidence", "pattern_flags", "reason", "source", "recorded_ms", "weight"]
EVAL_COLUMNS = ["strand_id", "coin", "ts_ms", "horizon_s", "fwd_ret_bps", "mfe_bps",
                "mae_bps", "status"]
OUTCOMES = ("fwd_ret_bps", "mfe_bps", "mae_bps")
_TEXT = ("strand_id", "kind", "coin", "timeframe", "chart_hash", "note", "pattern_flags",
         "reason", "source")


def at_of(doc: Mapping[str, Any]) -> datetime | None:
    text = doc.get("at")
    if not text:
        return None
    t = datetime.fromisoformat(str(text))
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def day_of(doc: Mapping[str, Any]) -> str | None:
    """The UTC day (YYYY-MM-DD) a reading document's submitted time falls in."""
    t = at_of(doc)
    return None if t is None else t.strftime("%Y-%m-%d")


def _ms(t: datetime) -> int:
    return int(round(t.timestamp() * 1000))


def strand_row(doc: Mapping[str, Any], strand: Mapping[str, Any]) -> dict[str, Any]:
    """One `vis_strands` row: a reading document with a time and its vis_strand row (its
    `kind`; `created_at` when it is known)."""
    at, reading = at_of(doc), doc.get("reading") or {}
    if at is None:
        raise ValueError(f"reading {doc.get('strand_id')!r} has no time: it is in no day")
    created = strand.get("created_at")
    return {
        "strand_id": str(doc.get("strand_id")), "kind": strand.get("kind"),
        "coin": doc.get("symbol"), "ts_ms": _ms(at),
        "timeframe": reading.get("timeframe"), "chart_hash": doc.get("chart_hash"),
        "note": doc.get("note"), "confidence": float(reading.get("confidence") or 0.0),
        "pattern_flags": json.dumps(reading.get("pattern_flags") or {}, sort_keys=True),
        "reason": reading.get("reason"),
        "source": json.dumps(doc["source"], sort_keys=True) if doc.get("source") else None,
        "recorded_ms": _ms(created) if isinstance(created, datetime) else None,
        "weight": 1.0,  # the vis priors' weight of a source chart (lessons.weigh)
    }


def strands_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """`vis_strands` rows (`strand_row`) as the table, typed, by time."""
    df = pd.DataFrame(list(rows), columns=STRAND_COLUMNS)
    for col in _TEXT:
        df[col] = df[col].astype(STR)
    df["ts_ms"] = df["ts_ms"].astype(np.int64)
    df["confidence"] = df["confidence"].astype(np.float64)
    df["recorded_ms"] = df["recorded_ms"].astype("Int64")
    df["weight"] = df["weight"].astype(np.float64)
    return df.sort_values(["ts_ms", "strand_id"], kind="stable").reset_index(drop=True)


def strands_of_day(docs: Iterable[Mapping[str, Any]], recorded: Mapping[str, Mapping[str, Any]],
                   day: str) -> pd.DataFrame:
    """The `vis_strands` rows of `day`: each reading document whose time falls in it and
    whose strand is in the fabric (`recorded`: strand id -> its vis_strand row), by time."""
    rows = []
    for doc in docs:
        sid, at = str(doc.get("strand_id")), at_of(doc)
        if at is None or at.strftime("%Y-%m-%d") != day or sid not in recorded:
            continue
        rows.append(strand_row(doc, recorded[sid]))
    return strands_frame(rows)


def evaluate_strands(strands: pd.DataFrame, read_tape: Callable[[str], pd.DataFrame | None],
                     horizons_s: Sequence[int] = DEFAULT_HORIZONS_S,
                     gap_tolerance_s: float = GAP_TOLERANCE_S) -> pd.DataFrame:
    """One `vis_eval` row per (strand with a coin, horizon), by time then horizon.

    `read_tape(coin)`: the coin's MicroTape (`READ_COLUMNS`) from the chart's day on, or
    None when the coin has no tape that day (its rows are `no_tape`)."""
    have = strands[strands["coin"].notna()]
    parts = []
    for coin, grp in have.groupby("coin", sort=True):
        windows = pd.DataFrame({
            "window_id": grp["strand_id"].to_numpy(), "ts_ms": grp["ts_ms"].to_numpy(np.int64),
            "coin": grp["coin"].to_numpy(), "detector_id": "vis", "direction": 1,
            "published": False, "propensity": np.nan})
        tape = read_tape(str(coin))
        missing = tape is None or len(tape) == 0
        out = evaluate_windows(windows, empty_frame()[READ_COLUMNS] if missing else tape,
                               horizons_s, 0.0, gap_tolerance_s)
        if missing:
            out["status"] = pd.array(["no_tape"] * len(out), dtype=STR)
        parts.append(out)
    if not parts:
        empty = evaluate_windows(pd.DataFrame({
            "window_id": pd.array([], dtype=STR), "ts_ms": np.array([], dtype=np.int64),
            "coin": pd.array([], dtype=STR), "detector_id": pd.array([], dtype=STR),
            "direction": np.array([], dtype=np.int8), "published": np.array([], dtype=bool),
            "propensity": np.array([], dtype=np.float64)}), empty_frame()[READ_COLUMNS],
            horizons_s, 0.0, gap_tolerance_s)
        parts = [empty]
    out = pd.concat(parts, ignore_index=True).rename(columns={"window_id": "strand_id"})
    out = out.sort_values(["ts_ms", "strand_id", "horizon_s"], kind="stable")
    return out[EVAL_COLUMNS].reset_index(drop=True)


def realised(lake: Lake | ObjectLake, docs: Iterable[Mapping[str, Any]]
             ) -> dict[str, dict[int, dict[str, Any]]]:
    """strand id -> horizon (s) -> {fwd_ret_bps, mfe_bps, mae_bps (None when not measured),
    status} for the documents whose day's `vis_eval` is in the lake."""
    by_day: dict[str, set[str]] = {}
    for doc in docs:
        day = day_of(doc)
        if day is not None and doc.get("symbol"):
            by_day.setdefault(day, set()).add(str(doc["strand_id"]))
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for day, ids in sorted(by_day.items()):
        if not lake.exists("vis_eval", day):
            continue
        rows = lake.read("vis_eval", day)
        out.update(outcomes_of(rows[rows["strand_id"].isin(ids)]))
    return out


def outcomes_of(rows: pd.DataFrame) -> dict[str, dict[int, dict[str, Any]]]:
    """`vis_eval` rows as `realised` gives them: strand id -> horizon (s) -> outcomes."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for r in rows.to_dict("records"):
        out.setdefault(str(r["strand_id"]), {})[int(r["horizon_s"])] = {
            **{k: None if pd.isna(r[k]) else round(float(r[k]), 3) for k in OUTCOMES},
            "status": str(r["status"])}
    return out
