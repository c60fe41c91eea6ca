"""Every learning stage is partitioned by UTC day."""

import dagster as dg

PARTITIONS_START = "2025-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)
