"""The live chain's dict rows as frames with the nightly tables' columns and dtypes, so what
the daemon stores and compares is typed exactly as `microtape_frames`, `signal_events` and
the Signal Bus rows are."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.microtape.build import RowBlock
from lotus_core.microtape.schema import empty_frame
from lotus_core.signals.schema import SIGNAL_EVENTS_SCHEMA

_BUS = {"window_id": "str", "ts_ms": "int64", "coin": "str", "detector_id": "str",
        "paper": "bool", "propensity": "float64", "payload": "str"}


def _typed(rows: Sequence[dict[str, Any]], dtypes: dict[str, str]) -> pd.DataFrame:
    """Column by column (a frame of dicts then `astype` costs ten times more), the rows
    turned into columns in C (`itemgetter`, `zip`): a Python loop per column was a tenth of
    a max-speed replay's scorer."""
    names = list(dtypes)
    get = itemgetter(*names)
    if len(names) == 1:
        columns: list[Any] = [[get(r) for r in rows]]
    else:
        columns = list(zip(*map(get, rows), strict=True)) if rows else [()] * len(names)
    cols: dict[str, Any] = {}
    for name, values in zip(names, columns, strict=True):
        dtype = dtypes[name]
        if dtype == "str":
            cols[name] = pd.Series(list(values), dtype="str")
        else:
            cols[name] = np.array(values, dtype=dtype)
    return pd.DataFrame(cols)


@cache
def _microtape_dtypes() -> dict[str, str]:
    return {name: "str" if isinstance(t, pd.StringDtype) else str(t)
            for name, t in empty_frame().dtypes.items()}


@cache
def _events_dtypes() -> dict[str, str]:
    return {name: "str" if "string" in str(col.dtype) else str(col.dtype)
            for name, col in SIGNAL_EVENTS_SCHEMA.columns.items()}


def rows_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """MicroTape rows (dicts keyed by MICROTAPE_COLUMNS) as `build_microtape` types them."""
    return _typed(rows, _microtape_dtypes())


def blocks_frame(steps: Sequence[Sequence[RowBlock]]) -> pd.DataFrame:
    """The frame `rows_frame` makes of the row dicts of `steps` (each step's `RowBlock`s,
    steps in order), built from the columns the rows were made of: each step's rows in
    (ts_ms, coin) order, as `TapeStream.rows` orders its dicts (np.lexsort is stable)."""
    dtypes = _microtape_dtypes()
    names = list(dtypes)
    blocks = [b for step in steps for b in step]
    if not blocks:
        return rows_frame([])
    lens = [len(b) for b in blocks]
    coins = np.repeat(np.array([b.coin for b in blocks], dtype=object), lens)
    cols: dict[str, Any] = {names[0]: pd.Series(coins, dtype="str")}
    for j, name in enumerate(names[1:]):
        dtype, parts = dtypes[name], [b.columns[j][b.start:] for b in blocks]
        if dtype == "str":
            cols[name] = pd.Series([v for part in parts for v in part], dtype="str")
        else:
            cols[name] = np.concatenate([np.asarray(part, dtype=dtype) for part in parts])
    step_of = np.repeat(np.arange(len(steps)), [sum(map(len, step)) for step in steps])
    order = np.lexsort((cols["ts_ms"], step_of))
    frame = pd.DataFrame(cols)
    if (order[1:] < order[:-1]).any():
        frame = frame.take(order).reset_index(drop=True)
    return frame


def events_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """signal_events rows as `score_day` types them."""
    return _typed(rows, _events_dtypes())


def bus_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Signal Bus rows as `lotus_core.signals.bus.bus_rows` types them."""
    return _typed(rows, _BUS)
