"""The DSI micro-experts over the MicroTape: fitted once a day, applied one coin at a time.

- `dsi_model` (daily): the experts and their fusion weights fitted on the earlier days'
  MicroTape only (never the day's own; only the columns the experts read; whole coin-days up
  to the registry's `history_rows`: lotus_core.dsi.history), stored as one lake row. Its
  window is over `microtape_days` (the daily handle on the day x coin MicroTape: Dagster
  maps no time window from a daily asset onto a day x coin one), sized by
  `dsi_history_days` of the shared settings, read from the lake one coin-day at a time.
- `dsi_annotations` and `dsi_coin_stats` (day x coin, one pass): the coin's frames
  annotated with the day's model, and the sums the day's expert statistics need.
- `dsi_experts` (daily): the registry with the day's statistics, from the coins' sums.

Thin: all logic is in lotus_core.dsi (fit daily, apply per coin).
"""

import time

import dagster as dg
import pandas as pd

from lotus_assets.metadata import rounded
from lotus_assets.partitions import (
    coin_day_in,
    daily_partitions,
    day_and_coin,
    day_coin_partitions,
    sized_window_in,
)
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
from lotus_core.dsi.grammar import coin_slices
from lotus_core.dsi.history import read_history
from lotus_core.dsi.stored import add_coin_stats, coin_stats, model_of, model_row
from lotus_core.store.by_coin import ByCoin, CoinDay, CoinDays


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="dsi",
    kinds={"parquet", "pandas"},
    # the earlier days the fit reads (never this one), as the MicroTape's coin-days
    ins={"microtape_days": sized_window_in("microtape_days", "dsi_history_days",
                                           by_coin=True, reads="microtape_frames")},
    description="The day's DSI model: every active micro-expert fitted, with its Beta "
    "reliability and fusion weight, on the earlier days' MicroTape only (one row, the "
    "model pickled; see docs/dsi.md). Fitted once a day; each coin's annotation reads it.",
)
def dsi_model(context: dg.AssetExecutionContext,
              microtape_days: CoinDays) -> dg.Output[pd.DataFrame]:
    registry = load_registry()
    columns = tape_columns(registry)
    t0 = time.perf_counter()
    history = read_history(list(microtape_days.days), columns, registry.history_rows)
    model = fit_dsi(history, registry=registry)
    row = model_row(model)
    return dg.Output(row, metadata=rounded({
        "history_days": model.history_days,
        "fallback": not model.history_days,
        "history_coin_days": f"{history.coin_days} of {history.of_coin_days}",
        "history_rows": f"{history.rows:,} of {history.of_rows:,}",
        "columns_read": len(columns),
        "experts": len(model.experts),
        "fit_seconds": time.perf_counter() - t0,
        # wall-clock: metadata only (the stored model zeroes them: same history, same bytes)
        "expert_fit_seconds": {st.id: float(st.fit_seconds) for st in model.experts},
        "model_bytes": len(row["model"].iloc[0]),
        "sha256": str(row["sha256"].iloc[0]),
    }))


def _has_coin(tape: CoinDay, coin: str) -> bool:
    """The day's MicroTape has the coin: its file (an empty one too: a coin with no quoted
    frame annotates to nothing), or its rows in a whole-day file."""
    lake, asset, day = tape.lake, tape.asset, tape.day
    if not lake.exists(asset, day):
        return False
    return lake.coin_exists(asset, day, coin) or coin in lake.coins(asset, day)


@dg.multi_asset(
    partitions_def=day_coin_partitions,
    group_name="dsi",
    ins={"dsi_model": dg.AssetIn("dsi_model"),  # the key's day
         "microtape_frames": coin_day_in("microtape_frames")},  # the key's coin of the day
    outs={
        "dsi_annotations": dg.AssetOut(
            io_manager_key="lake_io", kinds={"parquet", "pandas"}, is_required=False,
            description="Per MicroTape frame: each DSI micro-expert's flag, evidence z and "
            "confidence (f_/z_/c_<expert>), fused into mx_evidence = sigmoid(prior log-odds + "
            "sum w_e z_e) in [0, 1] and mx_confirm (M-of-N flags), by the day's dsi_model "
            "(fitted on earlier days only; see docs/dsi.md). One partition per day and coin."),
        "dsi_coin_stats": dg.AssetOut(
            io_manager_key="lake_io", kinds={"parquet", "pandas"}, is_required=False,
            description="What the day's expert statistics need of one coin's annotation: "
            "per expert its episode counts, flagged frames, contribution, and the "
            "co-moments of the experts' z (redundancy); dsi_experts merges the coins'."),
    },
    description="Annotates one coin of the day with the day's DSI model.",
    # a UI backfill may target the two apart: one pass makes both, yields those asked for
    can_subset=True,
)
def dsi_by_coin(context: dg.AssetExecutionContext, dsi_model: pd.DataFrame,
                microtape_frames: CoinDay):
    day, coin = day_and_coin(context.partition_key)
    if coin is None:
        raise dg.Failure(f"dsi_annotations is partitioned by day x coin, got {day!r}")
    if not _has_coin(microtape_frames, coin):
        raise dg.Failure(f"microtape_frames for {day}, coin {coin} is not in the lake; "
                         "materialise it first")
    model = model_of(dsi_model, day)
    columns = tape_columns(model.registry)
    t0 = time.perf_counter()
    tally = DayTally(model)
    frames = microtape_frames.read(coin, columns)  # read once: the empty form is its head
    head = frames[["coin", "ts_ms"]]
    parts = annotate_by_coin((frames,), model, tally)
    wanted = set(context.op_execution_context.selected_output_names)
    if "dsi_annotations" in wanted:
        yield dg.Output(ByCoin(parts, empty_annotations(head, model)),
                        output_name="dsi_annotations", metadata={
                            "history_days": model.history_days,
                            "fallback": not model.history_days,
                        })
    else:  # the statistics alone: the coin annotated (the tally), nothing written
        for part in parts:
            del part
    if "dsi_coin_stats" not in wanted:
        return
    # the lake has written the coin's annotations (and filled the tally) by now
    yield dg.Output(coin_stats(tally, coin), output_name="dsi_coin_stats", metadata=rounded({
        **tally.metadata(),
        "annotate_seconds": time.perf_counter() - t0,
        "feature_seconds": tally.feature_seconds,
        # wall-clock: metadata only (the fit's seconds are dsi_model's)
        "latency_p50_us": {k: t["latency_p50_us"] for k, t in tally_timings(tally).items()},
    }))


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="dsi",
    kinds={"parquet", "pandas"},
    ins={"dsi_model": dg.AssetIn("dsi_model"),
         "dsi_coin_stats": dg.AssetIn("dsi_coin_stats")},  # every coin of the day
    description="The DSI expert registry (id, kind, spec, version, active) with the "
    "day's statistics: Beta reliability and fusion weight learned on earlier days, the "
    "day's realised hit rate, contribution to mx_evidence and redundancy, summed over the "
    "day's coins (dsi_coin_stats).",
)
def dsi_experts(context: dg.AssetExecutionContext, dsi_model: pd.DataFrame,
                dsi_coin_stats: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    tally = DayTally(model_of(dsi_model, day))
    # the coins in the lake's order (their files'), the order one process annotated them
    for lo, hi in coin_slices(dsi_coin_stats):
        add_coin_stats(tally, dsi_coin_stats.iloc[lo:hi])
    table = tally_table(day, tally)
    return dg.Output(table, metadata=rounded({
        **tally.metadata(),
        "coins": int(dsi_coin_stats["coin"].nunique()) if len(dsi_coin_stats) else 0,
        "experts": len(table),
        "active": int(table["active"].sum()),
        "table": dg.MetadataValue.md(table[[
            "expert_id", "kind", "version", "reliability", "weight",
            "day_episodes", "day_hit_rate", "contribution", "redundancy"]].to_markdown(
                index=False, floatfmt=".3g")),
    }))


DSI_ASSETS = [dsi_model, dsi_by_coin, dsi_experts]
