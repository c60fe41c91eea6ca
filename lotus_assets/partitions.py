"""Every learning stage is partitioned by UTC day."""

import os
import re
from pathlib import Path

import dagster as dg

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FALLBACK_START = "2025-01-01"
_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})\.jsonl\.gz$")


def _first_recording(folder: Path) -> str | None:
    days = sorted(m.group(1) for p in (folder.iterdir() if folder.is_dir() else [])
                  if (m := _DAY.match(p.name)))
    return days[0] if days else None


def partitions_start(env: dict[str, str] | None = None) -> str:
    """The first day the UI lists, so it follows the data a user has: LOTUS_PARTITIONS_START
    (YYYY-MM-DD) if set, else the first recording in LOTUS_FEED_DIR, else the first committed
    fixture day. `lotus materialize` sets it to its first day when unset."""
    env = dict(os.environ) if env is None else env
    if env.get("LOTUS_PARTITIONS_START"):
        return env["LOTUS_PARTITIONS_START"]
    feed = env.get("LOTUS_FEED_DIR")
    return ((_first_recording(Path(feed)) if feed else None) or _first_recording(FIXTURES)
            or FALLBACK_START)


PARTITIONS_START = partitions_start()
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)


def lake_window_in(asset: str, start_offset: int, end_offset: int) -> dg.AssetIn:
    """An input holding `asset`'s partitions from `start_offset` to `end_offset` days around
    this one (inclusive), concatenated by the lake IO manager with a `date` column; missing
    days are skipped. Dagster allows one input per upstream asset, so a stage that needs
    its own day too asks for a window that includes offset 0."""
    return dg.AssetIn(
        asset,
        partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=start_offset, end_offset=end_offset,
            allow_nonexistent_upstream_partitions=True),
        metadata={"lake_history": True},
    )


def history_in(asset: str, days: int = 7) -> dg.AssetIn:
    """The `days` partitions before this one (only earlier days: no leak)."""
    return lake_window_in(asset, -days, -1)
