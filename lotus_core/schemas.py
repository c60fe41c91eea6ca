"""Which pandera schema guards which lake asset; the lake IO manager enforces them on write."""

from __future__ import annotations

import pandera.pandas as pa

from lotus_core.audits.schema import (
    AUDIT_STATUS_SCHEMA,
    DETECTOR_AUDITS_SCHEMA,
    DETECTOR_CARDS_SCHEMA,
)
from lotus_core.dm.schema import DM_SCHEMAS
from lotus_core.dsi.schema import DSI_EXPERTS_SCHEMA, DSI_SCHEMA
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

ASSET_SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "raw_feed": RAW_FEED_SCHEMA,
    "microtape_frames": MICROTAPE_SCHEMA,
    "microtape_days": MICROTAPE_DAYS_SCHEMA,
    "dsi_annotations": DSI_SCHEMA,
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
