"""`dsi_annotations` and `dsi_experts`: the micro-experts over a day's MicroTape.

One step computes both (the expert table reports on the very run that annotated the day):
fit on the previous days' MicroTape (never this day), annotate this day, describe each
expert. Thin: all logic is in lotus_core.dsi.
"""

import time

import dagster as dg
import pandas as pd

from lotus_assets.partitions import daily_partitions, lake_window_in
from lotus_core.config.settings import DsiSettings
from lotus_core.dsi import annotate, expert_table, expert_timings, fit_dsi, load_registry
from lotus_core.microtape.schema import empty_frame
from lotus_resources.lake import LakeResource

HISTORY_DAYS = DsiSettings().history_days
"""Earlier MicroTape days the learned experts and the reliabilities are fitted on."""


def split_today(tape: pd.DataFrame, day: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(this day's frames without `date`, the earlier days with `date`)."""
    if len(tape) == 0 or "date" not in tape.columns:
        return empty_frame(), tape
    today = tape["date"] == day
    frames = tape.loc[today].drop(columns="date").reset_index(drop=True)
    return frames, tape.loc[tape["date"] < day].reset_index(drop=True)


@dg.multi_asset(
    partitions_def=daily_partitions,
    group_name="dsi",
    ins={"microtape_frames": lake_window_in("microtape_frames", -HISTORY_DAYS, 0,
                                                "dsi_history_days")},
    outs={
        "dsi_annotations": dg.AssetOut(
            io_manager_key="lake_io", kinds={"parquet", "pandas"},
            description="Per MicroTape frame: each DSI micro-expert's flag, evidence z and "
            "confidence (f_/z_/c_<expert>), fused into mx_evidence = sigmoid(prior log-odds + "
            "sum w_e z_e) in [0, 1] and mx_confirm (M-of-N flags). Experts and weights are "
            "fitted on earlier days only; see docs/dsi.md."),
        "dsi_experts": dg.AssetOut(
            io_manager_key="lake_io", kinds={"parquet", "pandas"},
            description="The DSI expert registry (id, kind, spec, version, active) with the "
            "day's statistics: latency p50, Beta reliability and fusion weight learned on "
            "earlier days, the day's realised hit rate, contribution to mx_evidence and "
            "redundancy."),
    },
)
def dsi_assets(context: dg.AssetExecutionContext, microtape_frames: pd.DataFrame,
               lake: LakeResource):
    day = context.partition_key
    if not lake.get().exists("microtape_frames", day):  # the history input skips missing days
        raise dg.Failure(f"microtape_frames for {day} is not in the lake; materialise it first")
    frames, history = split_today(microtape_frames, day)
    registry = load_registry()
    t0 = time.perf_counter()
    model = fit_dsi(history, registry)
    t1 = time.perf_counter()
    result = annotate(frames, model)
    t2 = time.perf_counter()
    table = expert_table(day, frames, model, result)
    timings = expert_timings(model, result)
    ann = result.annotations
    flags = {s.id: int(result.outputs[s.id].f.sum()) for s in model.experts}
    yield dg.Output(ann, output_name="dsi_annotations", metadata={
        "rows": len(ann),
        "history_days": model.history_days,
        "fallback": not model.history_days,
        "fit_seconds": round(t1 - t0, 3),
        "annotate_seconds": round(t2 - t1, 3),
        "mx_evidence_mean": float(ann["mx_evidence"].mean()) if len(ann) else 0.0,
        "mx_confirm_rate": float(ann["mx_confirm"].mean()) if len(ann) else 0.0,
        "flag_frames": flags,
    })
    yield dg.Output(table, output_name="dsi_experts", metadata={
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
