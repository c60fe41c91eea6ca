"""Every learning stage is partitioned by UTC day."""

import dagster as dg

PARTITIONS_START = "2025-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)


def history_in(asset: str, days: int = 7) -> dg.AssetIn:
    """An input holding the `days` partitions before this one (only earlier days: no leak)."""
    return dg.AssetIn(
        asset,
        partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=-days, end_offset=-1, allow_nonexistent_upstream_partitions=True),
        metadata={"lake_history": True},
    )
