"""A day as runs in phases: the daily and day x coin assets of a small
graph of real Dagster assets, put in phases by what they read, run through real in-process
runs on one instance; a failed phase stops the day; the coins are the raw_feed's."""

import dagster as dg
import pandas as pd
import pytest

from lotus_assets.day_plan import (
    coins_of_day,
    day_phases,
    materialize_day,
    partition_tags,
    phase_config,
)
from lotus_assets.partitions import COINS, daily_partitions, day_coin_partitions
from lotus_core.store.lake import Lake

DAY = "2026-01-02"


def _graph(fail_coin: str | None = None) -> list:
    @dg.asset(partitions_def=daily_partitions)
    def raw_feed(context: dg.AssetExecutionContext) -> None:
        context.instance.add_dynamic_partitions(COINS, ["BTC", "ETH"])

    @dg.asset(partitions_def=day_coin_partitions, deps=[raw_feed])
    def tape(context: dg.AssetExecutionContext) -> str:
        coin = context.partition_key.keys_by_dimension["coin"]
        if coin == fail_coin:
            raise RuntimeError(f"{coin} broke")
        return coin

    @dg.asset(partitions_def=daily_partitions)
    def lessons(tape: dict[str, str]) -> int:  # every coin of the day
        return len(tape)

    @dg.asset(partitions_def=daily_partitions, deps=[lessons])
    def report() -> None:
        return None

    @dg.asset_check(asset=tape, partitions_def=day_coin_partitions)
    def tape_ok() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    return [raw_feed, tape, lessons, report, tape_ok]


def _lake(tmp_path) -> Lake:
    lake = Lake(tmp_path / "lake")
    lake.write("raw_feed", DAY, pd.DataFrame({"coin": ["BTC", "ETH", "SOL"],
                                              "frames": [5, 3, 0]}))
    return lake


def test_phases_follow_what_each_asset_reads():
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

    graph = AssetGraph.from_assets(_graph())
    keys = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    phases = day_phases(graph, keys)
    assert [(p.job, [k.path[-1] for k in p.keys]) for p in phases] == [
        ("lotus_daily", ["raw_feed"]), ("lotus_coins", ["tape"]),
        ("lotus_daily", ["lessons", "report"])]
    # a check of an asset not selected runs in the last phase of its asset's kind
    check = dg.AssetCheckKey(dg.AssetKey("tape"), "tape_ok")
    alone = day_phases(graph, {dg.AssetKey("lessons")}, [check])
    assert [(p.job, p.keys, p.checks) for p in alone] == [
        ("lotus_daily", (dg.AssetKey("lessons"),), ()), ("lotus_coins", (), (check,))]
    config = {"ops": {"tape": {"config": {}}, "lessons": {"config": {}}}, "loggers": {}}
    assert phase_config(config, phases[1]) == {"ops": {"tape": {"config": {}}}, "loggers": {}}


def test_a_day_runs_its_phases_a_run_per_coin(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    run = materialize_day(_graph(), DAY, instance=instance, lake=_lake(tmp_path))
    assert run.success, run.stopped
    # raw_feed, a run per coin with frames (SOL has none), then the daily stages after
    assert [r.dagster_run.tags.get("dagster/partition") for r in run.results] == [
        DAY, f"BTC|{DAY}", f"ETH|{DAY}", DAY]
    assert run.output_for_node("lessons") == 2  # both coins' partitions read
    assert len(run.asset_materializations_for_node("tape")) == 2
    assert {e.check_name for e in run.get_asset_check_evaluations()} == {"tape_ok"}
    assert all(r.dagster_run.tags["lotus/day"] == DAY for r in run.results)


def test_a_failed_coin_stops_the_day_before_the_daily_stages_read_it(tmp_path):
    run = materialize_day(_graph(fail_coin="ETH"), DAY, instance=dg.DagsterInstance.ephemeral(),
                          lake=_lake(tmp_path), raise_on_error=False)
    assert not run.success
    assert len(run.results) == 3  # raw_feed, BTC, ETH: lessons never ran on a partial day
    assert "lotus_coins failed for 2026-01-02" in run.stopped
    assert run.asset_materializations_for_node("lessons") == []


def test_a_day_without_its_raw_feed_names_what_to_run_first(tmp_path):
    lake = Lake(tmp_path / "lake")
    with pytest.raises(dg.DagsterInvariantViolationError, match="no raw_feed partition"):
        coins_of_day(lake, DAY)
    run = materialize_day(_graph(), DAY, instance=dg.DagsterInstance.ephemeral(), lake=lake,
                          selection=["tape", "lessons"])
    assert not run.success and "materialise raw_feed for that day first" in run.stopped
    assert run.results == []


def test_a_coin_partition_names_each_dimension_in_its_tags():
    key = dg.MultiPartitionKey({"date": DAY, "coin": "BTC"})
    assert partition_tags(key) == {"dagster/partition": f"BTC|{DAY}",
                                   "dagster/partition/coin": "BTC",
                                   "dagster/partition/date": DAY}
    assert partition_tags(DAY) == {"dagster/partition": DAY}
