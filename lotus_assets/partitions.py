"""Every learning stage is partitioned by UTC day."""

import dagster as dg

PARTITIONS_START = "2025-01-01"

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
