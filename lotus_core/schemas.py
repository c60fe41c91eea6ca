"""Which pandera schema guards which lake asset; the lake IO manager enforces them on write.
Every asset's schema, and a bare one for an asset without its own, also refuses an infinity
in any float column (`NO_INFINITY`): a statistic whose spread is zero or undefined is stored
as missing (NaN) with its reason, never as inf.

`asset_schemas(registry)`: `dsi_annotations` has a column triple per active expert of the
DSI registry, so the table is built from the registry the caller's entry point loaded."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pandera.pandas as pa

from lotus_core.audits.schema import (
    AUDIT_STATUS_SCHEMA,
    DETECTOR_AUDITS_SCHEMA,
    DETECTOR_CARDS_SCHEMA,
)
from lotus_core.dm.schema import DM_SCHEMAS
from lotus_core.dsi.registry import Registry
from lotus_core.dsi.schema import DSI_EXPERTS_SCHEMA, dsi_schema
from lotus_core.dsi.stored import DSI_COIN_STATS_SCHEMA, DSI_MODEL_SCHEMA
from lotus_core.evaluation.schema import SIGNAL_EVAL_SCHEMA
from lotus_core.feed.summary import RAW_FEED_SCHEMA
from lotus_core.learning.schema import LEARNING_SCHEMAS
from lotus_core.microtape import MICROTAPE_SCHEMA
from lotus_core.microtape.schema import MICROTAPE_DAYS_SCHEMA
from lotus_core.report.schema import LOOP_REPORT_SCHEMA
from lotus_core.signals.schema import SIGNAL_SCHEMAS
from lotus_core.signals.scoring_day import SCORING_DAY_SCHEMA
from lotus_core.store.coin_days import coin_days_schema
from lotus_core.trader.schema import TRADER_SCHEMAS


def infinite_columns(df: pd.DataFrame) -> dict[str, int]:
    """{column: rows holding +inf or -inf} of the frame's float columns."""
    out = {}
    for name in df.columns:
        col = df[name]
        if pd.api.types.is_float_dtype(col.dtype):
            n = int(np.isinf(col.to_numpy(dtype=np.float64, na_value=np.nan)).sum())
            if n:
                out[str(name)] = n
    return out


NO_INFINITY = pa.Check(lambda df: not infinite_columns(df), name="no_infinity",
                       error="a float column holds +inf or -inf (a statistic without a spread "
                       "is stored as missing, NaN, with its reason)")


def refusing_infinity(schema: pa.DataFrameSchema | None = None) -> pa.DataFrameSchema:
    """`schema` (None: one with no column rules) with `NO_INFINITY` added."""
    out = copy.copy(schema) if schema is not None else pa.DataFrameSchema()
    out.checks = [*out.checks, NO_INFINITY]
    return out


_OWN: dict[str, pa.DataFrameSchema] = {
    "raw_feed": RAW_FEED_SCHEMA,
    "microtape_frames": MICROTAPE_SCHEMA,
    "microtape_days": MICROTAPE_DAYS_SCHEMA,
    "dsi_experts": DSI_EXPERTS_SCHEMA,
    "dsi_model": DSI_MODEL_SCHEMA,
    "dsi_coin_stats": DSI_COIN_STATS_SCHEMA,
    "detector_audits": DETECTOR_AUDITS_SCHEMA,
    "detector_audit_status": AUDIT_STATUS_SCHEMA,
    "detector_cards": DETECTOR_CARDS_SCHEMA,
    "signal_eval": SIGNAL_EVAL_SCHEMA,
    "signal_eval_late": SIGNAL_EVAL_SCHEMA,  # the same rows, completed a day later
    "detector_windows_days": coin_days_schema("detector_windows_days"),
    "signal_eval_days": coin_days_schema("signal_eval_days"),
    "signal_events_days": coin_days_schema("signal_events_days"),
    "scoring_day": SCORING_DAY_SCHEMA,
    **SIGNAL_SCHEMAS,  # detector_windows, signal_events, meta_signals, curator_log/_kpis/_tallies
    **LEARNING_SCHEMAS,
    **DM_SCHEMAS,
    **TRADER_SCHEMAS,  # paper_trades, executor_scores, exec_lessons, tr_priors
    "loop_report": LOOP_REPORT_SCHEMA,
}
_FIXED: dict[str, pa.DataFrameSchema] = {
    asset: refusing_infinity(schema) for asset, schema in _OWN.items()}
ANY_ASSET_SCHEMA = refusing_infinity()
"""What guards an asset that has no schema of its own."""


def asset_schemas(registry: Registry) -> dict[str, pa.DataFrameSchema]:
    """Every lake asset's schema: `dsi_annotations` with `registry`'s active experts
    (`lotus_core.dsi.schema.dsi_schema`), the others fixed by the code."""
    return {**_FIXED, "dsi_annotations": refusing_infinity(dsi_schema(registry))}
