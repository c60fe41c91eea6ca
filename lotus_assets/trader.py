"""The paper Trader's nightly assets: `paper_trades` (the day's dm_decisions replayed
against the recorded books by the live engine, positions carried across midnight, with the
tr priors compiled the night before), `executor_scores` (fill rate, slippage, adherence per
strategy, venue and coin), `exec_lessons` (execution lessons over the training window) and
`tr_priors` (tr braids compiled into a new, capped tr priors version in the fabric).

Thin: read the inputs from the lake and the feed, call `lotus_core.trader.nightly`. The
`trader:` settings come from the `settings` resource (the code location's one Settings).
"""

import json

import dagster as dg
import pandas as pd

from lotus_assets.metadata import paper_story
from lotus_assets.partitions import daily_partitions, lake_window_in
from lotus_core.learning.priors_store import nightly_source, read_priors_for_date, write_rows
from lotus_core.time import previous_day
from lotus_core.trader.learning import (
    ExecQuantizer,
    compile_tr,
    exec_strands,
    fit_exec_quantizer,
    load_exec_learning,
    tr_braids,
)
from lotus_core.trader.learning import exec_lessons as learn_exec_lessons
from lotus_core.trader.nightly import day_metadata, paper_day, reports
from lotus_core.trader.nightly import executor_scores as score_executors
from lotus_core.trader.priors import tr_priors as tr_priors_for
from lotus_core.trader.replay import decisions_from_table
from lotus_resources.feed import FeedSource
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.settings import SettingsResource

DECISIONS = "dm_decisions"


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
def paper_trades(context: dg.AssetExecutionContext, feed: FeedSource, lake: LakeResource,
                 fabric: OpsDbResource, settings: SettingsResource) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    store = lake.get()
    decisions = (decisions_from_table(store.read(DECISIONS, day))
                 if store.exists(DECISIONS, day) else [])
    prev_day = previous_day(day)
    previous = store.read("paper_trades", prev_day) if store.exists("paper_trades", prev_day) \
        else None
    triggers = any(d.ticket.get("dm_trigger") for d in decisions)
    rows = (store.read("microtape_frames", day)
            if triggers and store.exists("microtape_frames", day) else None)
    tcfg = settings.get().trader
    with fabric.open() as fab:
        priors = tr_priors_for(fab, day)  # compiled the night before: a replay is stable
    table, engine = paper_day(tcfg, feed.replay_day(day), decisions, previous, rows, priors)
    meta = day_metadata(table, engine)
    context.log.info("%s: %d decisions, %d fills, equity %.2f", day, len(decisions),
                     meta["fills"], meta["equity"])
    return dg.Output(table, metadata={
        "decisions": len(decisions), "carried_over": previous is not None,
        "tr_priors_ver": priors.version,
        "statuses": meta["statuses"], "positions": meta["positions"],
        **paper_story(table, meta, store, day),
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


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="trader",
    kinds={"parquet", "pandas"},
    ins={"paper_window": lake_window_in("paper_trades", -13, 0, "window_days"),
         "previous": lake_window_in("exec_lessons", -1, -1)},
    description="Execution lessons: every entry execution of the training window (context "
    "bands fitted on it, order type, slice count, cost vs the arrival mid incl. fees) through "
    "the signal layer's lesson machinery (cross-fitted AIPW uplift of <= 3-literal rules, "
    "gates, lifecycle, watchdog), treatments = what the Trader chooses.",
)
def exec_lessons(context: dg.AssetExecutionContext, paper_window: pd.DataFrame,
                 previous: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    cfg, lcfg = load_exec_learning()
    strands = exec_strands(reports(paper_window) if len(paper_window) else [], cfg)
    prev = previous.drop(columns=["date"], errors="ignore") if len(previous) else pd.DataFrame()
    out, q = learn_exec_lessons(strands, prev, day, cfg, lcfg)
    states = out["state"].value_counts().to_dict() if len(out) else {}
    return dg.Output(out, metadata={
        "executions": len(strands), "lessons": len(out),
        **{f"state_{k}": int(v) for k, v in sorted(states.items())},
        "active": ", ".join(out.loc[out["state"] == "active", "rule"].head(10)) or "-",
        "edges": str(q.edges)})


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="trader",
    kinds={"parquet", "pandas"},
    ins={"exec_lessons": dg.AssetIn("exec_lessons")},
    description="tr braids (each live execution lesson as a choice in a context) compiled "
    "under the caps against the version in force today and written to the fabric's "
    "tr_priors as a new version (paper_trades uses it from tomorrow; `lotus priors "
    "rollback --module tr` reverts it). One row per braid with its fate.",
)
def tr_priors(context: dg.AssetExecutionContext, fabric: OpsDbResource,
              exec_lessons: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    cfg, _ = load_exec_learning()
    braids = tr_braids(exec_lessons, cfg)
    q = (ExecQuantizer.from_dict(json.loads(str(exec_lessons["quantizer"].iloc[0])))
         if len(exec_lessons) else fit_exec_quantizer(pd.DataFrame(), cfg))
    with fabric.open() as store:
        before = read_priors_for_date(store, day, "tr")
        compiled = compile_tr(braids, q, cfg, before.rows)
        after = write_rows(store, compiled.rows, nightly_source(day),
                           f"{len(compiled.chosen)} tr braids chosen", module="tr")
    braids["compiled"] = ["chosen" if b in compiled.chosen else compiled.dropped.get(b, "-")
                          for b in braids["braid_id"]]
    braids["priors_ver"] = after.version
    return dg.Output(braids, metadata={
        "priors_ver": after.version, "before_ver": before.version,
        "patches": sum(k.startswith("patch/") for k in compiled.rows),
        "chosen": len(compiled.chosen), "dropped": dict(sorted(compiled.dropped.items()))})


TRADER_ASSETS = [paper_trades, executor_scores, exec_lessons, tr_priors]
