"""`signal_eval`: realised paper outcomes of every window in `signal_events` (docs/evaluation.md).

Thin: the day's windows plus the day's and the NEXT day's `microtape_frames` (a partition
mapping with end_offset=1; the next day is skipped while it does not exist), handed to
`lotus_core.evaluation.evaluate_windows`. Rows whose horizon runs past the available tape are
`pending`; re-materialise the day once the next day's MicroTape exists to fill them.
"""

import dagster as dg
import pandas as pd

from lotus_assets.metadata import eval_story
from lotus_assets.partitions import daily_partitions, lake_window_in
from lotus_core.evaluation import (
    DEFAULT_FEE_BPS,
    DEFAULT_HORIZONS_S,
    GAP_TOLERANCE_S,
    evaluate_windows,
)


class SignalEvalConfig(dg.Config):
    """Horizons in seconds, round-trip fee in bps (half the entry spread is added on top),
    and how far before a horizon end the last frame may lie before the row stays pending."""

    horizons_s: list[int] = list(DEFAULT_HORIZONS_S)
    fee_bps: float = DEFAULT_FEE_BPS
    gap_tolerance_s: float = GAP_TOLERANCE_S


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="evaluation",
    kinds={"parquet", "pandas"},
    ins={
        "signal_events": dg.AssetIn("signal_events"),
        "microtape_frames": lake_window_in("microtape_frames", 0, 1),  # this day + the next
    },
    description="Per (window, horizon) of the day's signal_events, published or not: forward "
    "mid return signed by direction, net of fee + half the entry spread, MFE, MAE, hit; "
    "'pending' (NaN) while the horizon runs past the available MicroTape (next day missing); "
    "'gap' when entry to exit crosses a recorded feed hole (the learning skips it).",
)
def signal_eval(context: dg.AssetExecutionContext, config: SignalEvalConfig,
                signal_events: pd.DataFrame,
                microtape_frames: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    tape = microtape_frames
    days = sorted(set(tape["date"])) if "date" in tape else []
    out = evaluate_windows(signal_events, tape, config.horizons_s, config.fee_bps,
                           config.gap_tolerance_s)
    done = out["status"] == "done"
    per_h = out[done].groupby("horizon_s")
    return dg.Output(out, metadata={
        "windows": len(signal_events),
        "rows": len(out),
        "done": int(done.sum()),
        "pending": int((out["status"] == "pending").sum()),
        "across_gap": int((out["status"] == "gap").sum()),  # measured over a feed hole
        "tape_days": days,
        "next_day_present": len(days) > 1,
        "hit_rate": {str(h): float(g["hit"].astype(float).mean()) for h, g in per_h},
        "mean_net_bps": {str(h): float(g["net_ret_bps"].mean()) for h, g in per_h},
        **eval_story(out),
    })


EVAL_ASSETS = [signal_eval]
