"""`signal_eval`: realised paper outcomes of every window in `signal_events`, and
`signal_eval_late`: the ones the next day's tape completes (docs/evaluation.md).

Thin: `signal_eval` is partitioned by day x coin: a run hands the coin's
windows of day D and its own `microtape_frames` to
`lotus_core.evaluation.outcomes.evaluate_by_coin`; the coin's rows are its file of the day,
and the day read whole is in the windows' order (`lotus_core.store.merged`: the lake merges
the coin files by time); rows whose horizon runs past the day's tape are `pending`. It
reads nothing of D + 1, so a re-run gives the same bytes whether or not the next day
exists. `signal_eval_late` for day D re-evaluates day D - 1's pending rows over the tapes
of D - 1 and D (both declared inputs: the lineage shows the next-day read), and the readers
that want every known outcome (the learning window, the DM's calibration) lay its rows over
`signal_eval`'s (`lotus_core.evaluation.with_late`). The windows of `signal_eval`'s days
are over its daily handle `signal_eval_days`.
"""


import dagster as dg
import pandas as pd

from lotus_assets.coin_days import coin_days_asset
from lotus_assets.metadata import eval_story, rounded
from lotus_assets.partitions import (
    coin_day_in,
    daily_partitions,
    day_coin_partitions,
    lake_window_in,
)
from lotus_core.evaluation import (
    DEFAULT_FEE_BPS,
    DEFAULT_HORIZONS_S,
    GAP_TOLERANCE_S,
    late_rows,
)
from lotus_core.evaluation.late import EVAL_COLUMNS as LATE_EVAL_COLUMNS
from lotus_core.evaluation.late import late_tape, pending_windows
from lotus_core.evaluation.outcomes import READ_COLUMNS, WINDOW_COLUMNS, evaluate_by_coin
from lotus_core.report.tables import EvalTally
from lotus_core.store.by_coin import CoinDay
from lotus_core.time import previous_day


class SignalEvalConfig(dg.Config):
    """Horizons in seconds, round-trip fee in bps (half the entry spread is added on top),
    and how far before a horizon end the last frame may lie before the row stays pending."""

    horizons_s: list[int] = list(DEFAULT_HORIZONS_S)
    fee_bps: float = DEFAULT_FEE_BPS
    gap_tolerance_s: float = GAP_TOLERANCE_S


LAKE_DAY = {"partitions_def": daily_partitions, "io_manager_key": "lake_io",
            "group_name": "evaluation", "kinds": {"parquet", "pandas"}}
"""What the daily evaluation assets are: a day's Parquet partition in the lake."""


@dg.asset(
    **{**LAKE_DAY, "partitions_def": day_coin_partitions},
    ins={
        "signal_events": coin_day_in("signal_events"),  # the coin's windows of the day
        "microtape_frames": coin_day_in("microtape_frames"),  # the coin's tape of the day
    },
    description="Per (window, horizon) of the coin's signal_events of the day, published or "
    "not: forward mid return signed by direction, net of fee + half the entry spread, MFE, "
    "MAE, hit; 'pending' (NaN) when the horizon runs past the day's MicroTape (the next "
    "day's signal_eval_late completes it); 'gap' when entry to exit crosses a recorded feed "
    "hole (the learning skips it). One partition per day and coin; a day read whole is in "
    "the windows' order, (ts_ms, coin), as the events are.",
)
def signal_eval(context: dg.AssetExecutionContext, config: SignalEvalConfig,
                signal_events: CoinDay,
                microtape_frames: CoinDay) -> dg.Output[pd.DataFrame]:
    # a coin run's inputs are its coin's: its windows, in the events' order, and its tape
    rows = evaluate_by_coin(signal_events.whole(WINDOW_COLUMNS), microtape_frames,
                            config.horizons_s, config.fee_bps, config.gap_tolerance_s)
    tally = EvalTally()
    tally.add(rows)
    n = len(rows)  # a row per window and horizon
    return dg.Output(rows, metadata=rounded({
        "windows": n // max(len(set(config.horizons_s)), 1),
        "rows": n,
        "done": tally.status.get("done", 0),
        "pending": tally.status.get("pending", 0),
        "across_gap": tally.status.get("gap", 0),  # measured over a feed hole
        "hit_rate": {str(h): hits / n for h, (n, hits, _) in tally.per_horizon().items()},
        "mean_net_bps": {str(h): net / n for h, (n, _, net) in tally.per_horizon().items()},
        **eval_story(tally),
    }))


signal_eval_days = coin_days_asset("signal_eval_days", "signal_eval", "evaluation",
                                   "The day's signal evaluations")
"""The daily handle on `signal_eval`: the windows of its days (the learning window, the DM
calibration, the report, `signal_eval_late`) are over it, and the day's hit-rate check."""


@dg.asset(
    **LAKE_DAY,
    ins={
        # the previous day's windows and rows: only the columns the late rows read
        "signal_events": lake_window_in("signal_events_days", -1, -1, columns=WINDOW_COLUMNS,
                                        reads="signal_events"),
        "signal_eval": lake_window_in("signal_eval_days", -1, -1, columns=LATE_EVAL_COLUMNS,
                                      reads="signal_eval"),
        # this day's tape, nothing read: the pending coins' frames around midnight are read
        # a coin at a time, with the previous day's (from the lake, since a daily step takes
        # only its own day of a day x coin asset)
        "microtape_frames": coin_day_in("microtape_frames"),
    },
    description="The previous day's pending signal_eval rows (horizons that cross midnight) "
    "evaluated again over its MicroTape and this day's: signal_eval's columns, one row per "
    "(window, horizon) that was pending. The learning window and the DM's calibration lay "
    "these rows over signal_eval's; signal_eval itself is never rewritten.",
)
def signal_eval_late(context: dg.AssetExecutionContext, config: SignalEvalConfig,
                     signal_events: pd.DataFrame, signal_eval: pd.DataFrame,
                     microtape_frames: CoinDay) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    prev = previous_day(day)
    lake = microtape_frames.lake
    days = [d for d in (prev, day) if lake.exists("microtape_frames", d)]
    events = signal_events.drop(columns="date", errors="ignore")
    evals = signal_eval.drop(columns="date", errors="ignore")
    pending = int((evals["status"] == "pending").sum()) if len(evals) else 0
    tape = None  # no tape of the previous day (or of either day): nothing to complete
    if prev in days and sum(lake.rows("microtape_frames", d) for d in days):
        def both_days(coin: str) -> pd.DataFrame:
            return pd.concat([CoinDay(lake, "microtape_frames", d).read(coin, READ_COLUMNS)
                              for d in days], ignore_index=True)

        tape = late_tape(pending_windows(events, evals), both_days, config.horizons_s)
    out = late_rows(events, evals, tape, config.horizons_s, config.fee_bps,
                    config.gap_tolerance_s)
    status = out["status"].value_counts()
    return dg.Output(out, metadata={
        "day_completed": prev,
        "pending_before": pending,
        "rows": len(out),
        "done": int(status.get("done", 0)),
        "gap": int(status.get("gap", 0)),
        "still_pending": int(status.get("pending", 0)),  # e.g. a recording hole at midnight
        "tape_days": days,
        "tape_frames_read": 0 if tape is None else len(tape),
    })


EVAL_ASSETS = [signal_eval, signal_eval_days, signal_eval_late]
