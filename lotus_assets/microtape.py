"""`microtape_frames`: per coin, one frame of book, tape, candle and context features a cadence.

Partitioned by day x coin: a run builds one coin of one day, so a step
holds one coin whatever the number of coins; the daily stages after it read the day's coins
through the lake (a day in coins reads as one partition).

Each day starts warm: its trailing windows are seeded from the previous day's recording,
whose validated `raw_feed` partition is read from the lake (a day x coin asset cannot take
a daily window through Dagster's partition mappings); when that partition is absent (the
first day of a range) or its recording no longer matches it, the day starts cold and its
metadata says so (`start: cold`, with the reason; `warning` too when the previous recording
changed or cannot be read: one bad day never fails the next)."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd

from lotus_assets.coin_days import coin_days_asset
from lotus_assets.partitions import (
    day_and_coin,
    day_coin_partitions,
    with_previous_day,
)
from lotus_core.feed.parse import file_sha256
from lotus_core.feed.shards import by_coin_group
from lotus_core.feed.tables import FeedDay
from lotus_core.microtape import MicroTapeParams
from lotus_core.microtape.build import microtape_by_coin
from lotus_core.microtape.context_history import ContextHistory, context_history
from lotus_core.microtape.schema import empty_frame
from lotus_core.microtape.warm import seeds, seeds_after, warm_span_ms
from lotus_core.store.by_coin import ByCoin
from lotus_core.time import previous_day
from lotus_resources.feed import FeedSource
from lotus_resources.lake import LakeResource


class MicroTapeConfig(dg.Config):
    """Run config; the CLI fills it from lotus.yaml, the launchpad can override it per run."""

    cadence_ms: int = 1000
    warm_start: bool = True  # seed trailing windows from the previous day's recording
    # funding_pctl / oi_pctl ranked on the coin's N days before (0: the grid's 4 h; None:
    # MicroTapeParams' own)
    funding_rank_days: int | None = None
    oi_rank_days: int | None = None


def _previous(feed: FeedSource, raw_feed: pd.DataFrame, day: str
              ) -> tuple[FeedDay | None, str, bool]:
    """(the previous day's recording or None, why: `warm from D` or the cold reason, and
    whether that reason is a warning: the previous recording changed or is unusable).

    Any error reading it means a cold start: the warm start only adds history, so a bad
    previous day never fails this one."""
    prev = previous_day(day)
    rows = raw_feed[raw_feed["date"] == prev] if "date" in raw_feed else raw_feed.iloc[:0]
    if len(rows) == 0:
        return None, f"cold: no raw_feed partition for {prev}", False
    try:
        parsed = feed.parse(prev)  # hashes the file too: no second read when it is fine
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable previous day: a cold start
        return None, _unusable(prev, exc), True
    if parsed.sha256 not in set(rows["sha256"]):
        return None, _changed(prev), True
    return parsed, f"warm from {prev}", False


def _changed(prev: str) -> str:
    return f"cold: the recording of {prev} changed since raw_feed validated it"


def _unusable(prev: str, exc: Exception) -> str:
    why = exc.description if isinstance(exc, dg.Failure) else f"{type(exc).__name__}: {exc}"
    return f"cold: the recording of {prev} is unusable ({why})"


def _check_today(raw_feed: pd.DataFrame, day: str, sha: str) -> None:
    today = raw_feed[raw_feed["date"] == day] if "date" in raw_feed else raw_feed
    hashes = set(today["sha256"]) if "sha256" in today else set()
    if hashes and sha not in hashes:
        raise dg.Failure(
            f"the recording for {day} changed since raw_feed validated it "
            f"(raw_feed saw {sorted(hashes)}, now {sha}); re-materialise raw_feed first")


Built = tuple[Iterator[pd.DataFrame], bool, str, bool]
"""(the frames, one coin at a time, built as they are taken; warm?; why; warning?)"""


def _whole(feed: FeedSource, raw_feed: pd.DataFrame, day: str, params: MicroTapeParams,
           warm_start: bool, coin: str, history: ContextHistory | None) -> Built:
    """The frames of the whole parsed day (and the previous day), with the warm decision."""
    parsed = feed.parse(day)
    _check_today(raw_feed, day, parsed.sha256)
    warm, start, warning = (_previous(feed, raw_feed, day) if warm_start
                            else (None, "cold: warm_start is off", False))
    if warm is not None and not seeds(warm, day, params):
        start = _too_short(warm.day, params)
        warm = None
    frames = microtape_by_coin(parsed, params, warm=warm, coins=(coin,), history=history)
    return frames, warm is not None, start, warning


def _sharded(feed: FeedSource, raw_feed: pd.DataFrame, day: str, params: MicroTapeParams,
             warm_start: bool, coin: str, history: ContextHistory | None) -> Built:
    """`_whole` from the stored coin shards (feed.coin_shards not 1): the shard of today and
    of the previous day that hold `coin`, the only ones read (a day x coin run reads no
    other coin's shard); the day's warm / cold decision from the previous set's index (its
    last book frame), as `seeds` decides it over the whole previous day. The same frames."""
    _check_today(raw_feed, day, file_sha256(feed.recording(day)))
    prev = previous_day(day)
    warm, start, warning = False, "cold: warm_start is off", False
    if warm_start:
        rows = raw_feed[raw_feed["date"] == prev] if "date" in raw_feed else raw_feed.iloc[:0]
        start = f"cold: no raw_feed partition for {prev}"
        if len(rows):
            try:
                sha = file_sha256(feed.recording(prev))
                if sha not in set(rows["sha256"]):
                    start, warning = _changed(prev), True
                elif not seeds_after(feed.last_book_recv_ms(prev), day, params):
                    start = _too_short(prev, params)
                else:
                    warm, start = True, f"warm from {prev}"
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - as in `_previous`: a cold start
                start, warning = _unusable(prev, exc), True
    today = feed.coin_shard(day, coin)
    before = feed.coin_shard(prev, coin) if warm else None
    frames: Iterator[pd.DataFrame] = iter(()) if today is None else microtape_by_coin(
        today, params, warm=before, coins=(coin,), history=history)
    return frames, warm, start, warning


microtape_days = coin_days_asset("microtape_days", "microtape_frames", "microtape",
                                 "The day's MicroTape")


def _too_short(prev: str, params: MicroTapeParams) -> str:
    return (f"cold: the recording of {prev} ends before the last "
            f"{warm_span_ms(params) // 60_000} min of its day")


@dg.asset(
    partitions_def=day_coin_partitions,
    io_manager_key="lake_io",
    group_name="microtape",
    kinds={"parquet", "pandas"},
    ins={"raw_feed": dg.AssetIn("raw_feed")},  # the key's day; the day before: from the lake
    description="MicroTape: per coin on a fixed cadence, features known at each time from data "
    "received at or before it (mid, micro-price, imbalance, cancels, sweeps, volatility, candle "
    "morphology, funding, open interest, basis, session, regime); trailing windows seeded from "
    "the previous day's recording when its raw_feed partition exists. One partition per day "
    "and coin (the coins are those raw_feed found in the day's recording).",
)
def microtape_frames(context: dg.AssetExecutionContext, config: MicroTapeConfig,
                     raw_feed: pd.DataFrame, feed: FeedSource,
                     lake: LakeResource) -> dg.Output[ByCoin]:
    day, coin = day_and_coin(context.partition_key)
    if coin is None:
        raise dg.Failure(f"microtape_frames is partitioned by day x coin, got {day!r}")
    params = MicroTapeParams.given(cadence_ms=config.cadence_ms,
                                   funding_rank_days=config.funding_rank_days,
                                   oi_rank_days=config.oi_rank_days)
    build = _sharded if by_coin_group(feed.coin_shards) else _whole
    validated = with_previous_day(lake.get(), "raw_feed", day, raw_feed, ["sha256"])
    history = context_history(Path(feed.feed_dir), day, params, feed.verify_manifest)
    frames, warm, start, warning = build(feed, validated, day, params, config.warm_start, coin,
                                         history)
    if warning:
        context.log.warning("%s %s: %s", day, coin, start)
    empty = empty_frame()
    # the lake IO manager builds and writes the coin's frame and adds rows, coins and
    # rows_per_coin to this metadata
    return dg.Output(ByCoin(frames, empty), metadata={
        "cadence_ms": config.cadence_ms,
        "columns": len(empty.columns),
        "start": "warm" if warm else "cold",
        "start_detail": start,
        "coin_shards": feed.coin_shards,
        **({"context_ranks": history.report([coin])[coin]} if history is not None else {}),
        **({"warning": start} if warning else {}),
    })
