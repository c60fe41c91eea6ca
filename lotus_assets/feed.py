"""`raw_feed`: the day's recording, validated; dead letters to the fabric, counts to the lake."""


from collections import Counter

import dagster as dg
import pandas as pd

from lotus_assets.partitions import daily_partitions
from lotus_core.feed.summary import summarize_feed
from lotus_resources.feed import FeedSource
from lotus_resources.opsdb import OpsDbResource


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="feed",
    kinds={"parquet", "sqlite"},
    description="The day's feed recording, hash-checked and validated: accepted frames per "
    "channel and coin; refused lines go to the fabric's feed_dead_letter with a reason.",
)
def raw_feed(context: dg.AssetExecutionContext, feed: FeedSource,
             fabric: OpsDbResource) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    parsed = feed.parse(day)
    with fabric.open() as store:
        store.replace_dead_letters(day, parsed.source, parsed.dead, run_id=context.run.run_id)
    summary = summarize_feed(parsed)
    reasons = Counter(d.reason for d in parsed.dead)
    context.log.info("%s: %d lines, %d dead letters", day, parsed.stats.get("lines", 0),
                     len(parsed.dead))
    return dg.Output(summary, metadata={
        "sha256": parsed.sha256,
        "source": dg.MetadataValue.path(parsed.source),
        "lines": parsed.stats.get("lines", 0),
        "frames": int(summary["frames"].sum()),
        "dead_letters": len(parsed.dead),
        "dead_letter_reasons": dict(sorted(reasons.items())),
        "stats": dict(sorted(parsed.stats.items())),
        "counts": dg.MetadataValue.md(summary[["channel", "coin", "frames", "items",
                                               "dead_letters"]].to_markdown(index=False)),
    })
