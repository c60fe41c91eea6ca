"""`microtape_frames`: per coin, one frame of book, tape, candle and context features a cadence."""


import dagster as dg
import pandas as pd

from lotus_assets.partitions import daily_partitions
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_resources.feed import FeedSource


class MicroTapeConfig(dg.Config):
    """Run config; the CLI fills it from lotus.yaml, the launchpad can override it per run."""

    cadence_ms: int = 1000


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="microtape",
    kinds={"parquet", "pandas"},
    description="MicroTape: per coin on a fixed cadence, features known at each time from data "
    "received at or before it (mid, micro-price, imbalance, cancels, sweeps, volatility, candle "
    "morphology, funding, open interest, basis, session, regime).",
)
def microtape_frames(context: dg.AssetExecutionContext, config: MicroTapeConfig,
                     raw_feed: pd.DataFrame, feed: FeedSource) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    parsed = feed.parse(day)
    hashes = set(raw_feed["sha256"])
    if hashes and parsed.sha256 not in hashes:
        raise dg.Failure(
            f"the recording for {day} changed since raw_feed validated it "
            f"(raw_feed saw {sorted(hashes)}, now {parsed.sha256}); re-materialise raw_feed first")
    frames = build_microtape(parsed, MicroTapeParams(cadence_ms=config.cadence_ms))
    per_coin = frames.groupby("coin", observed=True).size()
    return dg.Output(frames, metadata={
        "rows": len(frames),
        "coins": sorted(per_coin.index.astype(str)),
        "rows_per_coin": {str(k): int(v) for k, v in per_coin.items()},
        "cadence_ms": config.cadence_ms,
        "columns": len(frames.columns),
    })
