"""The paper Trader's nightly assets downstream of `paper_trades` (which the DM's joint
replay makes, lotus_assets/dm.py: the Trader runs once a night): `executor_scores` (fill
rate, slippage, adherence per strategy, venue and coin), `exec_lessons` (execution lessons
over the training window) and `tr_priors` (tr braids compiled into a new, capped tr priors
version in the fabric).

Thin: read the inputs from the lake and the feed, call `lotus_core.trader.nightly`. The
`trader:` settings come from the `settings` resource (the code location's one Settings).
"""

import json

import dagster as dg
import pandas as pd

from lotus_assets.metadata import rounded
from lotus_assets.partitions import daily_partitions, lake_window_in, sized_window_in
from lotus_core.learning.priors_store import nightly_source, read_priors_for_date, write_rows
from lotus_core.trader.learning import (
    ExecQuantizer,
    compile_tr,
    exec_strands,
    fit_exec_quantizer,
    load_exec_learning,
    tr_braids,
)
from lotus_core.trader.learning import exec_lessons as learn_exec_lessons
from lotus_core.trader.nightly import executor_scores as score_executors
from lotus_core.trader.nightly import reports
from lotus_resources.opsdb import OpsDbResource


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
    return dg.Output(out, metadata=rounded({
        "rows": len(out),
        "fill_rate_day": float(out.loc[out["window"] == "day", "fill_rate"].mean())
        if (out["window"] == "day").any() else 0.0,
    }))


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="trader",
    kinds={"parquet", "pandas"},
    ins={"paper_window": sized_window_in("paper_trades", "window_days"),
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
    return dg.Output(out, metadata=rounded({
        "executions": len(strands), "lessons": len(out),
        **{f"state_{k}": int(v) for k, v in sorted(states.items())},
        "active": ", ".join(out.loc[out["state"] == "active", "rule"].head(10)) or "-",
        "edges": {k: list(v) for k, v in sorted(q.edges.items())}}))


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


TRADER_ASSETS = [executor_scores, exec_lessons, tr_priors]
