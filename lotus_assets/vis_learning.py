"""The charts' nightly lessons (docs/vision.md, "Lessons and priors"; lotus_core.vis.lessons):

    vis_lessons   the source charts of the training window (shared window_days) with a done
                  outcome at the lesson horizon, through the signal layer's lesson machinery
    vis_priors    vis braids (each live lesson as a weight on the charts of its context)
                  compiled under the caps against the version in force today and written to
                  the fabric's vis_priors as a new version: the DM weighs tomorrow's charts
                  with it (`dm_decisions`, `dm_calibration`, the live dm loop)

Both are in the `lotus_vis` job (group vis), after `vis_eval`; never in `lotus_daily`.
"""

import json

import dagster as dg
import pandas as pd

from lotus_assets.metadata import rounded
from lotus_assets.partitions import daily_partitions, lake_window_in, sized_window_in
from lotus_core.learning.priors_store import nightly_source, read_priors_for_date, write_rows
from lotus_core.vis.lessons import (
    VisQuantizer,
    chart_units,
    compile_vis,
    fit_vis_quantizer,
    load_vis_learning,
    vis_braids,
)
from lotus_core.vis.lessons import vis_lessons as learn_vis_lessons
from lotus_core.vis.priors import MODULE
from lotus_resources.opsdb import OpsDbResource

VIS_NIGHT = {"partitions_def": daily_partitions, "io_manager_key": "lake_io",
             "group_name": "vis", "kinds": {"parquet", "pandas"}}


@dg.asset(
    **VIS_NIGHT,
    ins={"strands": sized_window_in("vis_strands", "window_days"),
         "evals": sized_window_in("vis_eval", "window_days"),
         "previous": lake_window_in("vis_lessons", -1, -1)},
    description="Chart lessons: every source chart of the training window (read, a coin, a "
    "direction) with a done outcome at the lesson horizon (Y = direction x its coin's mid "
    "return, bps), its literals (pattern, confirm, dir, timeframe band, confidence band, "
    "session), through the signal layer's lesson machinery (cross-fitted AIPW uplift of "
    "<= 2-literal rules, gates, lifecycle, watchdog): which kinds of chart carry an edge.",
)
def vis_lessons(context: dg.AssetExecutionContext, strands: pd.DataFrame, evals: pd.DataFrame,
                previous: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    cfg, lcfg = load_vis_learning()
    units = chart_units(strands, evals, cfg)
    prev = previous.drop(columns=["date"], errors="ignore") if len(previous) else pd.DataFrame()
    out, q = learn_vis_lessons(units, prev, day, cfg, lcfg)
    states = out["state"].value_counts().to_dict() if len(out) else {}
    return dg.Output(out, metadata=rounded({
        "charts": len(units), "lessons": len(out),
        **{f"state_{k}": int(v) for k, v in sorted(states.items())},
        "active": ", ".join(out.loc[out["state"] == "active", "rule"].head(10)) or "-",
        "confidence_edges": list(q.conf_edges)}))


@dg.asset(
    **VIS_NIGHT,
    ins={"vis_lessons": dg.AssetIn("vis_lessons")},
    description="vis braids (each live chart lesson as a weight on the charts of its "
    "context) compiled under the caps against the version in force today and written to "
    "the fabric's vis_priors as a new version (the Decision-Maker weighs tomorrow's charts "
    "with it; `lotus priors rollback --module vis` reverts it). One row per braid with its "
    "fate.",
)
def vis_priors(context: dg.AssetExecutionContext, fabric: OpsDbResource,
               vis_lessons: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    cfg, lcfg = load_vis_learning()
    braids = vis_braids(vis_lessons, cfg, lcfg)
    q = (VisQuantizer.from_dict(json.loads(str(vis_lessons["quantizer"].iloc[0])))
         if len(vis_lessons) else fit_vis_quantizer(pd.DataFrame(), cfg))
    with fabric.open() as store:
        before = read_priors_for_date(store, day, MODULE)
        compiled = compile_vis(braids, q, cfg, before.rows)
        after = write_rows(store, compiled.rows, nightly_source(day),
                           f"{len(compiled.chosen)} vis braids chosen", module=MODULE)
    braids["compiled"] = ["chosen" if b in compiled.chosen else compiled.dropped.get(b, "-")
                          for b in braids["braid_id"]]
    braids["priors_ver"] = after.version
    return dg.Output(braids, metadata={
        "priors_ver": after.version, "before_ver": before.version,
        "patches": sum(k.startswith("patch/") for k in compiled.rows),
        "weights": {k: v for k, v in compiled.rows.items() if k.startswith("patch/")} or "-",
        "chosen": len(compiled.chosen), "dropped": dict(sorted(compiled.dropped.items()))})


VIS_LEARNING_ASSETS = [vis_lessons, vis_priors]
