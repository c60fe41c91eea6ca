"""`microtape_frames`: per coin, one frame of book, tape, candle and context features a cadence.

Each day starts warm: its trailing windows are seeded from the previous day's recording,
whose validated `raw_feed` partition arrives through a partition mapping (offset -1); when
that partition is absent (the first day of a range) or its recording no longer matches it,
the day starts cold and its metadata says so (`start: cold`, with the reason)."""

from datetime import date, timedelta

import dagster as dg
import pandas as pd

from lotus_assets.partitions import daily_partitions, lake_window_in
from lotus_core.feed.tables import FeedDay
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.microtape.warm import seeds, warm_span_ms
from lotus_resources.feed import FeedSource


class MicroTapeConfig(dg.Config):
    """Run config; the CLI fills it from lotus.yaml, the launchpad can override it per run."""

    cadence_ms: int = 1000
    warm_start: bool = True  # seed trailing windows from the previous day's recording


def _previous(feed: FeedSource, raw_feed: pd.DataFrame, day: str
              ) -> tuple[FeedDay | None, str]:
    """(the previous day's recording or None, why: `warm from D` or the cold reason)."""
    prev = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
    rows = raw_feed[raw_feed["date"] == prev] if "date" in raw_feed else raw_feed.iloc[:0]
    if len(rows) == 0:
        return None, f"cold: no raw_feed partition for {prev}"
    try:
        parsed = feed.parse(prev)
    except dg.Failure as exc:
        return None, f"cold: the recording of {prev} is unusable ({exc.description})"
    if parsed.sha256 not in set(rows["sha256"]):
        return None, f"cold: the recording of {prev} changed since raw_feed validated it"
    return parsed, f"warm from {prev}"


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="microtape",
    kinds={"parquet", "pandas"},
    ins={"raw_feed": lake_window_in("raw_feed", -1, 0)},
    description="MicroTape: per coin on a fixed cadence, features known at each time from data "
    "received at or before it (mid, micro-price, imbalance, cancels, sweeps, volatility, candle "
    "morphology, funding, open interest, basis, session, regime); trailing windows seeded from "
    "the previous day's recording when its raw_feed partition exists.",
)
def microtape_frames(context: dg.AssetExecutionContext, config: MicroTapeConfig,
                     raw_feed: pd.DataFrame, feed: FeedSource) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    parsed = feed.parse(day)
    today = raw_feed[raw_feed["date"] == day] if "date" in raw_feed else raw_feed
    hashes = set(today["sha256"]) if "sha256" in today else set()
    if hashes and parsed.sha256 not in hashes:
        raise dg.Failure(
            f"the recording for {day} changed since raw_feed validated it "
            f"(raw_feed saw {sorted(hashes)}, now {parsed.sha256}); re-materialise raw_feed first")
    params = MicroTapeParams(cadence_ms=config.cadence_ms)
    warm, start = (_previous(feed, raw_feed, day) if config.warm_start
                   else (None, "cold: warm_start is off"))
    if warm is not None and not seeds(warm, day, params):
        warm, start = None, (f"cold: the recording of {warm.day} ends before the last "
                             f"{warm_span_ms(params) // 60_000} min of its day")
    frames = build_microtape(parsed, params, warm=warm)
    per_coin = frames.groupby("coin", observed=True).size()
    return dg.Output(frames, metadata={
        "rows": len(frames),
        "coins": sorted(per_coin.index.astype(str)),
        "rows_per_coin": {str(k): int(v) for k, v in per_coin.items()},
        "cadence_ms": config.cadence_ms,
        "columns": len(frames.columns),
        "start": "warm" if warm is not None else "cold",
        "start_detail": start,
    })
