"""`dsi_annotations` and `dsi_experts`: the micro-experts over a day's MicroTape.

One step computes both (the expert table reports on the very run that annotated the day):
fit on the previous days' MicroTape (never this day; only the columns the experts read;
whole coin-days up to the registry's `history_rows`: lotus_core.dsi.history),
annotate this day one coin at a time (written a coin per row group as it goes), describe
each expert from what the coins added up to. Thin: all logic is in lotus_core.dsi.

The day's MicroTape arrives as an input (every coin of the day x coin partitions); the
earlier days through the window of `microtape_days` (the daily handle on the day x coin
MicroTape: Dagster maps no time window from a daily asset onto a day x coin one), sized by
`dsi_history_days` of the shared settings, their coins read from the lake one at a time.
"""

import time

import dagster as dg
import pandas as pd

from lotus_assets.partitions import coin_day_in, daily_partitions, lake_window_in
from lotus_core.config.settings import DsiSettings
from lotus_core.dsi import (
    DayTally,
    annotate_by_coin,
    fit_dsi,
    load_registry,
    tally_table,
    tally_timings,
    tape_columns,
)
from lotus_core.dsi.day import empty_annotations
from lotus_core.dsi.history import read_history
from lotus_core.store.by_coin import ByCoin, CoinDay

DSI_HISTORY_DAYS = DsiSettings().history_days
"""The packaged `dsi.history_days`: the window's size before the settings re-size it."""


@dg.multi_asset(
    partitions_def=daily_partitions,
    group_name="dsi",
    ins={"microtape_frames": coin_day_in("microtape_frames"),  # the day, every coin
         # the days the fit reads (earlier ones) and this one, as the window's days
         "microtape_days": lake_window_in("microtape_days", -DSI_HISTORY_DAYS, 0,
                                          "dsi_history_days", columns=["coin"])},
    outs={
        "dsi_annotations": dg.AssetOut(
            io_manager_key="lake_io", kinds={"parquet", "pandas"}, is_required=False,
            description="Per MicroTape frame: each DSI micro-expert's flag, evidence z and "
            "confidence (f_/z_/c_<expert>), fused into mx_evidence = sigmoid(prior log-odds + "
            "sum w_e z_e) in [0, 1] and mx_confirm (M-of-N flags). Experts and weights are "
            "fitted on earlier days only; see docs/dsi.md. Written one coin at a time."),
        "dsi_experts": dg.AssetOut(
            io_manager_key="lake_io", kinds={"parquet", "pandas"}, is_required=False,
            description="The DSI expert registry (id, kind, spec, version, active) with the "
            "day's statistics: latency p50, Beta reliability and fusion weight learned on "
            "earlier days, the day's realised hit rate, contribution to mx_evidence and "
            "redundancy."),
    },
    # a UI backfill may target the two apart (Dagster's asset backfill refuses a
    # non-subsettable multi-asset whose outputs' targets it computes differently): one pass
    # makes both, and yields the ones asked for
    can_subset=True,
)
def dsi_assets(context: dg.AssetExecutionContext, microtape_frames: CoinDay,
               microtape_days: pd.DataFrame):
    day = context.partition_key
    today = microtape_frames
    if not today.lake.exists("microtape_frames", day):
        raise dg.Failure(f"microtape_frames for {day} is not in the lake; materialise it first")
    registry = load_registry()
    columns = tape_columns(registry)
    t0 = time.perf_counter()
    days = sorted(set(microtape_days["date"])) if "date" in microtape_days else []
    earlier = [CoinDay(today.lake, "microtape_frames", d) for d in days if d < day]
    history = read_history(earlier, columns, registry.history_rows)
    model = fit_dsi(history, registry)
    sampled = {"history_coin_days": f"{history.coin_days} of {history.of_coin_days}",
               "history_rows": f"{history.rows:,} of {history.of_rows:,}"}
    del history
    t1 = time.perf_counter()
    coins = today.coins()
    head = today.read(coins[0], ["coin", "ts_ms"]) if coins else today.whole(["coin", "ts_ms"])
    tally = DayTally(model)
    parts = annotate_by_coin((today.read(c, columns) for c in coins), model, tally)
    wanted = set(context.op_execution_context.selected_output_names)
    if "dsi_annotations" in wanted:
        yield dg.Output(ByCoin(parts, empty_annotations(head, model)),
                        output_name="dsi_annotations", metadata={
                            "history_days": model.history_days,
                            "fallback": not model.history_days,
                            **sampled,
                            "fit_seconds": round(t1 - t0, 3),
                            "columns_read": len(columns),
                        })
    else:  # the experts' table alone: the coins annotated (the tally), nothing written
        for part in parts:
            del part
    if "dsi_experts" not in wanted:
        return
    # the lake has written every coin's annotations (and filled the tally) by now
    table = tally_table(day, tally)
    timings = tally_timings(tally)
    yield dg.Output(table, output_name="dsi_experts", metadata={
        **tally.metadata(),
        "annotate_seconds": round(time.perf_counter() - t1, 3),
        "experts": len(table),
        "active": int(table["active"].sum()),
        "table": dg.MetadataValue.md(table[[
            "expert_id", "kind", "version", "reliability", "weight",
            "day_episodes", "day_hit_rate", "contribution", "redundancy"]].assign(
                latency_p50_us=[timings.get(e, {}).get("latency_p50_us")
                                for e in table["expert_id"]]).to_markdown(
                index=False, floatfmt=".3g")),
        "timings": timings,  # wall-clock: metadata only, so the table is reproducible
    })
