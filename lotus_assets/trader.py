"""The paper Trader's nightly assets: `paper_trades` (the day's dm_decisions replayed
against the recorded books by the live engine, positions carried across midnight) and
`executor_scores` (fill rate, slippage, adherence per strategy, venue and coin).

Thin: read the inputs from the lake and the feed, call `lotus_core.trader.nightly`.
"""

from datetime import date, timedelta

import dagster as dg
import pandas as pd

from lotus_assets.partitions import daily_partitions, lake_window_in
from lotus_core.config import load_settings
from lotus_core.trader.config import trader_settings
from lotus_core.trader.nightly import day_metadata, paper_day, reports
from lotus_core.trader.nightly import executor_scores as score_executors
from lotus_core.trader.replay import decisions_from_table
from lotus_resources.feed import FeedSource
from lotus_resources.lake import LakeResource

DECISIONS = "dm_decisions"


def _previous_day(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="trader",
    kinds={"parquet", "pandas"},
    deps=[dg.AssetKey("raw_feed"), dg.AssetKey(DECISIONS)],
    description="The paper Trader replayed over the day: every decision ticket of dm_decisions "
    "executed against the recorded L2 books (latency, book walk, queue position, TWAP, "
    "barriers, funding) by the same engine as the daemon; one row per fill, order, position "
    "change and report, and a final state row the next day starts from (and dm_decisions' "
    "joint replay of the next day too). Same replay loop as the joint DM+Trader run inside "
    "dm_decisions: the same fills.",
)
def paper_trades(context: dg.AssetExecutionContext, feed: FeedSource,
                 lake: LakeResource) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    store = lake.get()
    decisions = (decisions_from_table(store.read(DECISIONS, day))
                 if store.exists(DECISIONS, day) else [])
    prev_day = _previous_day(day)
    previous = store.read("paper_trades", prev_day) if store.exists("paper_trades", prev_day) \
        else None
    triggers = any(d.ticket.get("dm_trigger") for d in decisions)
    rows = (store.read("microtape_frames", day)
            if triggers and store.exists("microtape_frames", day) else None)
    settings = trader_settings(load_settings().trader)
    table, engine = paper_day(settings, feed.parse(day), decisions, previous, rows)
    meta = day_metadata(table, engine)
    context.log.info("%s: %d decisions, %d fills, equity %.2f", day, len(decisions),
                     meta["fills"], meta["equity"])
    return dg.Output(table, metadata={
        "decisions": len(decisions), "carried_over": previous is not None,
        **{k: v for k, v in meta.items() if not isinstance(v, dict)},
        "statuses": meta["statuses"], "slippage_bps": meta["slippage_bps"],
        "positions": meta["positions"],
    })


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="trader",
    kinds={"parquet", "pandas"},
    ins={"paper_week": lake_window_in("paper_trades", -6, 0)},
    description="Executor scores per strategy, venue and coin: fill rate, mean and 95th "
    "percentile slippage vs the arrival mid, adherence to the decision's bounds, fees and "
    "P&L, for the day and the trailing 7 days.",
)
def executor_scores(context: dg.AssetExecutionContext,
                          paper_week: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    if paper_week.empty:
        week = today = pd.DataFrame()
    else:
        week = paper_week
        today = paper_week[paper_week["date"] == day]
    out = pd.concat([score_executors(reports(today) if len(today) else [], "day"),
                     score_executors(reports(week) if len(week) else [], "7d")],
                    ignore_index=True)
    return dg.Output(out, metadata={
        "rows": len(out),
        "fill_rate_day": float(out.loc[out["window"] == "day", "fill_rate"].mean())
        if (out["window"] == "day").any() else 0.0,
    })


TRADER_ASSETS = [paper_trades, executor_scores]
