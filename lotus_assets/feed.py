"""`raw_feed`: the day's recording, validated; dead letters to the fabric, counts to the lake.

A recording that is empty, truncated, or holds no line of its day fails the step before
anything is written (lotus_core.feed.recordings.refuse_*): the day's earlier partitions and
dead letters stay, and nothing downstream runs on a day that is not there."""


from collections import Counter

import dagster as dg
import pandas as pd

from lotus_assets.partitions import COINS, daily_partitions
from lotus_core.feed.gzlines import RecordingFormatError
from lotus_core.feed.recordings import UnusableRecordingError, refuse_empty, refuse_unusable
from lotus_core.feed.shards import by_coin_group, merge_dead, merge_sorted, merge_stats
from lotus_core.feed.summary import missing_channels, summarize_feed
from lotus_core.feed.tables import DeadLetter
from lotus_resources.feed import FeedSource
from lotus_resources.opsdb import OpsDbResource


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="feed",
    deps=["live_feed",  # the daemon's recording (lotus_sensors/live.py): tonight's input
          # the day before first: the day x coin MicroTape's warm start reads its hashes
          # from the lake (no window maps from a daily asset onto a day x coin one)
          dg.AssetDep("raw_feed", partition_mapping=dg.TimeWindowPartitionMapping(
              start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True))],
    kinds={"parquet", "sqlite"},
    description="The day's feed recording, hash-checked and validated: accepted frames per "
    "channel and coin; refused lines go to the fabric's feed_dead_letter with a reason.",
)
def raw_feed(context: dg.AssetExecutionContext, feed: FeedSource,
             fabric: OpsDbResource) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    path = feed.recording(day)
    try:
        refuse_empty(path)  # before parsing: an empty day has nothing to parse
        summary, dead, stats, source, sha = _summary(feed, day)
        refuse_unusable(path, day, stats.get("lines", 0), dead)
    except (UnusableRecordingError, RecordingFormatError) as exc:
        raise dg.Failure(description=str(exc), metadata={
            "recording": dg.MetadataValue.path(str(path)), "day": day}) from None
    with fabric.open() as store:
        store.replace_dead_letters(day, source, dead, run_id=context.run.run_id)
    coins = register_coins(context.instance, day_coins(summary))
    reasons = Counter(d.reason for d in dead)
    context.log.info("%s: %d lines, %d dead letters", day, stats.get("lines", 0), len(dead))
    return dg.Output(summary, metadata={
        "sha256": sha,
        "source": dg.MetadataValue.path(source),
        "lines": stats.get("lines", 0),
        "frames": int(summary["frames"].sum()),
        "dead_letters": len(dead),
        "dead_letter_reasons": dict(sorted(reasons.items())),
        "stats": dict(sorted(stats.items())),
        "coin_shards": feed.coin_shards,
        "coins": coins,
        "missing_channels": missing_channels(summary) or "none",
        "counts": dg.MetadataValue.md(summary[["channel", "coin", "frames", "items",
                                               "dead_letters"]].to_markdown(index=False)),
    })


def day_coins(summary: pd.DataFrame) -> list[str]:
    """The coins a day's recording holds frames of (the coin partitions its day x coin
    stages run)."""
    held = summary.loc[summary["frames"] > 0, "coin"].dropna().astype(str)
    return sorted(c for c in set(held) if c)


def register_coins(instance: dg.DagsterInstance, coins: list[str]) -> list[str]:
    """Add the coins Dagster's `coins` partitions do not list yet; returns `coins`. A coin
    name a partition key cannot carry fails the day, naming it."""
    bad = [c for c in coins if "|" in c or "," in c or c != c.strip()]
    if bad:
        raise dg.Failure(f"coin name(s) {bad} cannot be a partition key ('|', ',' or "
                         "surrounding spaces)")
    new = [c for c in coins if not instance.has_dynamic_partition(COINS, c)]
    if new:
        instance.add_dynamic_partitions(COINS, new)
    return coins


def _summary(feed: FeedSource, day: str
             ) -> tuple[pd.DataFrame, list[DeadLetter], dict[str, int], str, str]:
    """(summary, dead letters, stats, source, sha256): of the whole day, or put together
    from its coin shards (feed.coin_shards not 1; the same values, one shard held at a time)."""
    if not by_coin_group(feed.coin_shards):
        parsed = feed.parse(day)
        return summarize_feed(parsed), parsed.dead, parsed.stats, parsed.source, parsed.sha256
    summaries, dead, stats = [], [], []
    for shard in feed.shards(day):
        summaries.append(summarize_feed(shard))
        dead.append(shard.dead)
        stats.append(shard.stats)
        source, sha = shard.source, shard.sha256
        del shard  # before the next shard is assembled
    merged = merge_sorted(summaries, ["channel", "coin"])
    return (summaries[0] if merged is None else merged, merge_dead(dead), merge_stats(stats),
            source, sha)
