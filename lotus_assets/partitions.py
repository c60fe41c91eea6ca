"""Every learning stage is partitioned by UTC day."""

import os
import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd

from lotus_core.config.shared import SharedValues
from lotus_core.store.lake import Lake, ObjectLake
from lotus_core.time import previous_day
from lotus_resources.partition_keys import day_and_coin  # noqa: F401 - re-exported

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FALLBACK_START = "2025-01-01"
_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})\.jsonl\.gz$")


def _recordings(folder: Path) -> list[str]:
    return sorted(m.group(1) for p in (folder.iterdir() if folder.is_dir() else [])
                  if (m := _DAY.match(p.name)))


def _first_recording(folder: Path) -> str | None:
    days = _recordings(folder)
    return days[0] if days else None


def is_frozen_set(folder: Path) -> bool:
    """A directory with a manifest.json is a frozen set (fixtures, the loop feed): nothing
    records into it, so no later day will appear there. A live recording directory (the
    daemon's <LOTUS_HOME>/feed) has none."""
    return (Path(folder) / "manifest.json").is_file()


def partitions_start(env: dict[str, str] | None = None) -> str:
    """The first day the UI lists, so it follows the data a user has: LOTUS_PARTITIONS_START
    (YYYY-MM-DD) if set, else the first recording in LOTUS_FEED_DIR, else the first committed
    fixture day. `lotus materialize` sets it, when unset, to its feed directory's first
    recording, never to `--from`: a day's look-back windows map only onto partitions, so a
    definition starting at the first day asked for would give that day no history."""
    env = dict(os.environ) if env is None else env
    if env.get("LOTUS_PARTITIONS_START"):
        return env["LOTUS_PARTITIONS_START"]
    feed = env.get("LOTUS_FEED_DIR")
    return ((_first_recording(Path(feed)) if feed else None) or _first_recording(FIXTURES)
            or FALLBACK_START)


def partitions_end(env: dict[str, str] | None = None) -> str | None:
    """The last day the UI lists (inclusive), None for open-ended (up to today). So a frozen
    set shows only its days and the Materialize dialog's default range holds them:
    LOTUS_PARTITIONS_END if set; else, when LOTUS_PARTITIONS_START is not set (an explicit
    start asks for a range of its own: the tests set 2025-01-01) and LOTUS_FEED_DIR is a
    frozen set, its last recording; else None (a live recording directory grows daily)."""
    env = dict(os.environ) if env is None else env
    if env.get("LOTUS_PARTITIONS_END"):
        return env["LOTUS_PARTITIONS_END"]
    feed = env.get("LOTUS_FEED_DIR")
    if env.get("LOTUS_PARTITIONS_START") or not feed or not is_frozen_set(Path(feed)):
        return None
    days = _recordings(Path(feed))
    return days[-1] if days else None


def daily_partitions_def(env: dict[str, str] | None = None) -> dg.DailyPartitionsDefinition:
    """Daily partitions from `partitions_start` to `partitions_end` (open-ended: up to
    today's partition, which the live day fills)."""
    start, end = partitions_start(env), partitions_end(env)
    if end is None:
        return dg.DailyPartitionsDefinition(start_date=start, end_offset=1)
    after = (date.fromisoformat(end) + timedelta(days=1)).isoformat()  # end_date excludes
    return dg.DailyPartitionsDefinition(start_date=start, end_date=after)


PARTITIONS_START = partitions_start()
daily_partitions = daily_partitions_def()

SIZED_BY = "lotus/sized_by"
"""AssetIn metadata: the shared value (lotus_core.config.shared) that sizes a lake window."""
SIZED = "lotus/sized_windows"
"""Asset metadata `size_windows` adds: {upstream asset: [start_offset, end_offset]} of each
sized window, as the settings sized it (shown with the definition in the UI)."""


def lake_window_in(asset: str, start_offset: int, end_offset: int,
                   columns: list[str] | None = None, by_coin: bool = False,
                   reads: str | None = None) -> dg.AssetIn:
    """An input holding `asset`'s partitions from `start_offset` to `end_offset` days around
    this one (inclusive), concatenated by the lake IO manager with a `date` column; missing
    days are skipped. Dagster allows one input per upstream asset, so a stage that needs
    its own day too asks for a window that includes offset 0. A window whose size is a
    shared setting is a `sized_window_in` instead. `columns`: only those are read (a
    step that needs a few columns of a wide table holds only them). `by_coin`:
    nothing is read, the step gets the window as `CoinDays` and reads what it needs (its
    own day one coin at a time). `reads`: the days are `asset`'s, the rows read another
    asset's (a daily handle on a day x coin asset, `coin_days_asset`: Dagster maps no time
    window from a daily asset onto a day x coin one, so the window is over the handle and
    the lake reads what it stands for)."""
    return _window_in(asset, start_offset, end_offset, {}, columns, by_coin, reads)


def _window_in(asset: str, start_offset: int, end_offset: int, extra: dict[str, str],
               columns: list[str] | None, by_coin: bool, reads: str | None) -> dg.AssetIn:
    return dg.AssetIn(
        asset,
        partition_mapping=_mapping(start_offset, end_offset),
        metadata={"lake_history": True, **extra,
                  **({"lake_columns": list(columns)} if columns else {}),
                  **({"lake_coins": True} if by_coin else {}),
                  **({"lake_asset": reads} if reads else {})},
    )


def _mapping(start_offset: int, end_offset: int) -> dg.TimeWindowPartitionMapping:
    return dg.TimeWindowPartitionMapping(start_offset=start_offset, end_offset=end_offset,
                                         allow_nonexistent_upstream_partitions=True)


def coin_day_in(asset: str) -> dg.AssetIn:
    """An input holding this day's `asset` partition as a `CoinDay`, read one coin at a
    time by the step (its memory independent of the coin count)."""
    return dg.AssetIn(asset, metadata={"lake_coins": True})


def columns_in(asset: str, columns: list[str] | tuple[str, ...]) -> dg.AssetIn:
    """An input holding this day's `asset` partition, only `columns` read (a step that uses
    a few columns of a wide table holds only them)."""
    return dg.AssetIn(asset, metadata={"lake_columns": list(columns)})


def head_in(asset: str, columns: list[str] | tuple[str, ...], rows: int = 1) -> dg.AssetIn:
    """An input holding the first `rows` rows of this day's `asset` partition, only `columns`
    (a value the table repeats on every row, such as the night's quantiser on each lesson
    atom: read whole, the atoms of a 250,000-window night are ~300 MB)."""
    return dg.AssetIn(asset, metadata={"lake_columns": list(columns), "lake_head": rows})


def history_in(asset: str, days: int, columns: list[str] | None = None,
               by_coin: bool = False, reads: str | None = None) -> dg.AssetIn:
    """The `days` partitions before this one (only earlier days: no leak); only `columns`
    when named; `by_coin`: as `CoinDays`, nothing read; `reads`: another asset's rows over
    these days (`lake_window_in`)."""
    return lake_window_in(asset, -days, -1, columns=columns, by_coin=by_coin, reads=reads)


def _offsets(sized_by: str, days: int) -> tuple[int, int]:
    if sized_by == "window_days":  # the training window, tonight included
        return -(days - 1), 0
    if sized_by in ("history_days", "dsi_history_days"):  # earlier days only
        return -days, -1
    raise ValueError(f"unknown window size {sized_by!r}")


def sized_window_in(asset: str, sized_by: str, columns: list[str] | None = None,
                    by_coin: bool = False, reads: str | None = None) -> dg.AssetIn:
    """A lake window (`lake_window_in`) whose size is the shared value `sized_by`
    (lotus_core.config.shared: "window_days", tonight included; "history_days" or
    "dsi_history_days", earlier days only). Declared unsized, no settings read: its offsets
    are a one-day placeholder ending where the sized window ends (so a day's phases,
    which look only at whether a window reaches the day itself, are the same before and
    after sizing); `size_windows` gives the real ones from the settings, and
    `day_plan.materialize_day` refuses an asset whose window it has not sized."""
    start, end = _offsets(sized_by, 1)
    return _window_in(asset, start, end, {SIZED_BY: sized_by}, columns, by_coin, reads)


def window_offsets(sized_by: str, values: SharedValues) -> tuple[int, int]:
    """(start_offset, end_offset) of a window sized by the shared value `sized_by`."""
    days = {"window_days": values.window_days, "history_days": values.history_days,
            "dsi_history_days": values.dsi_history_days}
    if sized_by not in days:
        raise ValueError(f"unknown window size {sized_by!r}")
    return _offsets(sized_by, days[sized_by])


def _sized_inputs(assets_def: object) -> dict[dg.AssetKey, str]:
    """{upstream key: the shared value sizing it} of `assets_def`'s sized windows."""
    if not isinstance(assets_def, dg.AssetsDefinition) or not assets_def.is_executable:
        return {}
    sized: dict[dg.AssetKey, str] = {}
    for input_name, key in assets_def.node_keys_by_input_name.items():
        meta = assets_def.node_def.input_def_named(input_name).metadata or {}
        if SIZED_BY in meta:
            sized[key] = str(meta[SIZED_BY])
    return sized


def _resized(assets_def: dg.AssetsDefinition, values: SharedValues) -> dg.AssetsDefinition:
    sized = _sized_inputs(assets_def)
    if not sized:
        return assets_def
    offsets = {key: window_offsets(by, values) for key, by in sized.items()}

    def resize(spec: dg.AssetSpec) -> dg.AssetSpec:
        deps = [dg.AssetDep(dep.asset_key, partition_mapping=_mapping(*offsets[dep.asset_key]))
                if dep.asset_key in offsets else dep for dep in spec.deps]
        return spec.replace_attributes(deps=deps).merge_attributes(metadata={SIZED: {
            key.to_user_string(): list(o) for key, o in offsets.items()}})

    return assets_def.map_asset_specs(resize)


def size_windows(assets: Sequence[dg.AssetsDefinition],
                 values: SharedValues) -> list[dg.AssetsDefinition]:
    """`assets` with every `sized_window_in` window sized from `values` (built once per
    load); the others as they are."""
    return [_resized(a, values) for a in assets]


def unsized_windows(assets: Iterable[object]) -> list[str]:
    """`<asset> (<shared values>)` for each asset of `assets` whose shared-size windows are
    still at their placeholder (not through `size_windows`)."""
    return [f"{a.node_def.name} ({', '.join(sorted(set(sized.values())))})"
            for a in assets if isinstance(a, dg.AssetsDefinition)
            and (sized := _sized_inputs(a))
            and not any(SIZED in a.metadata_by_key.get(k, {}) for k in a.keys)]


COINS = "coins"
"""The dynamic partitions of the coins the recordings hold: `raw_feed` adds each day's
coins (the coin list is data, not code)."""
coin_partitions = dg.DynamicPartitionsDefinition(name=COINS)


def day_coin_partitions_def(days: dg.DailyPartitionsDefinition) -> dg.MultiPartitionsDefinition:
    """Day x coin, for the stages that run one coin at a time (a step's memory independent
    of the coin count): a key is `<coin>|<day>` (Dagster orders dimensions by name); a daily
    stage downstream of one reads every coin of its day (Dagster's default multi-to-single
    mapping)."""
    return dg.MultiPartitionsDefinition({"date": days, "coin": coin_partitions})


day_coin_partitions = day_coin_partitions_def(daily_partitions)


def day_coin_key(day: str, coin: str) -> dg.MultiPartitionKey:
    """The day x coin partition key of `coin` on `day`."""
    return dg.MultiPartitionKey({"date": day, "coin": coin})



def with_previous_day(lake: Lake | ObjectLake, asset: str, day: str, today: pd.DataFrame,
                      columns: list[str]) -> pd.DataFrame:
    """The previous day's `columns` of `asset` (when the lake has that day) and `today`'s
    rows, with a `date` column: the -1..0 window a partition mapping gives a daily asset,
    read from the lake where Dagster cannot map it (a day x coin asset and a daily one)."""
    prev = previous_day(day)
    days = [today.assign(date=day)]
    if lake.exists(asset, prev):
        days.insert(0, lake.read(asset, prev, columns).assign(date=prev))
    return pd.concat(days, ignore_index=True)

