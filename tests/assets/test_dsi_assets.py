"""The DSI through real Dagster runs over the committed fixtures: raw_feed ->
microtape_frames -> dsi_model (daily) -> dsi_annotations / dsi_coin_stats (a run per coin)
-> dsi_experts (daily) on a temporary LOTUS_HOME, day 1 without history (the documented
fallback), day 2 fitted on day 1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lotus_assets.day_plan import materialize_day
from lotus_assets.dsi import DSI_ASSETS, dsi_by_coin, dsi_model
from lotus_assets.feed import raw_feed
from lotus_assets.microtape import microtape_days, microtape_frames
from lotus_assets.partitions import size_windows
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.dsi import (
    DSI_EXPERTS_SCHEMA,
    annotate,
    dsi_schema,
    expert_table,
    fit_dsi,
    load_registry,
)
from lotus_core.store.lake import Lake
from lotus_location.definitions import build_resources, defs
from tests.helpers import BuiltDays, dagster_instance_at

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DAY1, DAY2 = "2026-01-02", "2026-01-03"
CHAIN = [raw_feed, microtape_frames, microtape_days, *DSI_ASSETS]  # just this chain


def _chain(settings):  # noqa: ANN001, ANN202 - its window sized by `settings`
    return size_windows(CHAIN, shared_values(settings))


@pytest.fixture
def settings(tmp_path):
    return load_settings(overrides={"home": str(tmp_path / "home"),
                                    "feed_dir": str(FIXTURES)}, env={})


def _run(settings, instance, day, selection=None):
    return materialize_day(_chain(settings), partition_key=day, instance=instance,
                           resources=build_resources(settings), selection=selection,
                           raise_on_error=False)


def test_dsi_assets_load_and_hang_off_the_microtape(settings):
    chain = dg.Definitions(assets=_chain(settings), resources=build_resources(settings))
    dg.Definitions.validate_loadable(chain)
    graph = chain.resolve_asset_graph()
    keys = {k.path[-1] for k in defs().resolve_asset_graph().get_all_asset_keys()}
    assert {"dsi_model", "dsi_annotations", "dsi_coin_stats", "dsi_experts"} <= keys
    parents = {  # the fit: the window of MicroTape days; the apply: the model and the coin
        "dsi_model": ({"microtape_days"}, dg.DailyPartitionsDefinition),
        "dsi_annotations": ({"dsi_model", "microtape_frames"}, dg.MultiPartitionsDefinition),
        "dsi_coin_stats": ({"dsi_model", "microtape_frames"}, dg.MultiPartitionsDefinition),
        "dsi_experts": ({"dsi_model", "dsi_coin_stats"}, dg.DailyPartitionsDefinition),
    }
    for key, (up, kind) in parents.items():
        node = graph.get(dg.AssetKey(key))
        assert {k.path[-1] for k in node.parent_keys} == up, key
        assert isinstance(node.partitions_def, kind), key
    mapping = graph.get(dg.AssetKey("dsi_model")).assets_def.get_partition_mapping(
        dg.AssetKey("microtape_days"))
    assert mapping.end_offset == -1  # earlier days only: never the day's own tape


def _coin_files(lake, asset, day):
    return {f.parent.name: f.read_bytes() for f in lake.files(asset, day)}


@pytest.fixture(scope="module")
def two_days(tmp_path_factory) -> Iterator[BuiltDays]:
    """The chain up to the DSI on the two fixture days, built once a module: the first day's
    raw feed alone, a DSI run without its MicroTape (`missing`), then each whole day."""
    root = tmp_path_factory.mktemp("dsi_two_days")
    settings = load_settings(overrides={"home": str(root / "home"),
                                        "feed_dir": str(FIXTURES)}, env={})
    with dagster_instance_at(root / "dagster_home") as instance:
        assert _run(settings, instance, DAY1, selection=[raw_feed]).success
        missing = _run(settings, instance, DAY1, selection=[dsi_model, dsi_by_coin])
        first = _run(settings, instance, DAY1)
        second = _run(settings, instance, DAY2)
        yield BuiltDays(settings, instance, {"missing": missing, "first": first,
                                             "second": second})


def test_two_fixture_days_fallback_then_history(two_days):
    settings, dagster_instance = two_days.settings, two_days.instance
    # without the day's MicroTape a coin's run fails, naming it (history alone is not enough)
    missing = two_days.runs["missing"]
    assert not missing.success
    error = next(e for e in missing.all_events if e.is_step_failure).step_failure_data.error
    assert f"microtape_frames for {DAY1}, coin " in error.message
    assert "is not in the lake" in error.message

    first = two_days.runs["first"]
    assert first.success
    lake = Lake(settings.lake_dir)
    ann1 = lake.read("dsi_annotations", DAY1)
    exp1 = lake.read("dsi_experts", DAY1)
    dsi_schema(load_registry()).validate(ann1)
    DSI_EXPERTS_SCHEMA.validate(exp1)
    tape = lake.read("microtape_frames", DAY1)
    assert ann1[["coin", "ts_ms"]].equals(tape[["coin", "ts_ms"]])
    assert lake.coins("dsi_annotations", DAY1) == lake.coins("microtape_frames", DAY1)
    # no history: learned experts silent, reliabilities are the priors
    assert (exp1["hist_days"] == 0).all()
    learned = exp1["kind"].isin(["anomaly", "sequence"])
    assert not exp1.loc[learned, "fitted"].any()
    assert (exp1.loc[learned, "day_flag_frames"] == 0).all()
    prior_mean = exp1["prior_alpha"] / (exp1["prior_alpha"] + exp1["prior_beta"])
    assert np.allclose(exp1["reliability"], prior_mean)
    fit = first.asset_materializations_for_node("dsi_model")
    assert len(fit) == 1 and fit[0].metadata["fallback"].value is True
    per_coin = first.asset_materializations_for_node("dsi_by_coin")
    coins = lake.coins("microtape_frames", DAY1)
    assert sorted(str(m.partition) for m in per_coin
                  if m.asset_key.path[-1] == "dsi_annotations") \
        == sorted(f"{c}|{DAY1}" for c in coins)  # one run per coin
    assert {m.asset_key.path[-1] for m in per_coin} == {"dsi_annotations", "dsi_coin_stats"}

    second = two_days.runs["second"]
    assert second.success
    exp2 = lake.read("dsi_experts", DAY2)
    dsi_schema(load_registry()).validate(lake.read("dsi_annotations", DAY2))
    DSI_EXPERTS_SCHEMA.validate(exp2)
    assert (exp2["hist_days"] == 1).all()
    assert exp2.loc[exp2["kind"] == "anomaly", "fitted"].all()
    assert (exp2["hist_trials"] > 0).any()
    assert not np.allclose(exp2["reliability"], prior_mean)

    # re-materialising the DSI alone gives byte-identical models, annotations and tables
    model = lake.path("dsi_model", DAY2).read_bytes()
    before = _coin_files(lake, "dsi_annotations", DAY2)
    experts = lake.path("dsi_experts", DAY2).read_bytes()
    assert _run(settings, dagster_instance, DAY2, selection=DSI_ASSETS).success
    assert lake.path("dsi_model", DAY2).read_bytes() == model
    assert _coin_files(lake, "dsi_annotations", DAY2) == before
    assert lake.path("dsi_experts", DAY2).read_bytes() == experts
    # one output alone (what a UI backfill may ask for): the coins' sums are the whole
    # pass's, and the annotations are not written
    stats = _coin_files(lake, "dsi_coin_stats", DAY2)
    kept = {f: f.read_bytes() for f in lake.files("dsi_annotations", DAY2)}
    for f in kept:
        f.unlink()
    alone = _run(settings, dagster_instance, DAY2, selection=["dsi_coin_stats"])
    assert alone.success
    assert {m.asset_key.path[-1] for m in alone.asset_materializations_for_node("dsi_by_coin")} \
        == {"dsi_coin_stats"}
    assert _coin_files(lake, "dsi_coin_stats", DAY2) == stats
    assert not lake.exists("dsi_annotations", DAY2)
    for f, data in kept.items():  # the module's lake as it was built, for the other tests
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)


def test_the_day_annotated_coin_by_coin_is_the_whole_days(two_days):
    """The fit reads the history's expert columns only, a run annotates one coin (a file
    each); the rows are `annotate` of the whole day fitted on the whole history, and the
    expert table, merged from the coins' sums, is the whole day's (floats within 1e-9
    relative, the day's sums being added in another order)."""
    assert two_days.runs["first"].success and two_days.runs["second"].success
    lake = Lake(two_days.settings.lake_dir)
    tape1, tape2 = lake.read("microtape_frames", DAY1), lake.read("microtape_frames", DAY2)
    model = fit_dsi(tape1.assign(date=DAY1), registry=load_registry())  # every column
    whole = annotate(tape2, model)
    ann = lake.read("dsi_annotations", DAY2)
    assert ann["coin"].nunique() >= 2
    assert [pq.ParquetFile(f).metadata.num_row_groups
            for f in lake.files("dsi_annotations", DAY2)] == [1] * ann["coin"].nunique()
    pd.testing.assert_frame_equal(ann, whole.annotations, check_exact=False, rtol=1e-12)
    experts = lake.read("dsi_experts", DAY2)
    assert (experts["day_flag_frames"] > 0).any()  # the tally was filled as coins were written
    pd.testing.assert_frame_equal(experts, expert_table(DAY2, tape2, model, whole),
                                  check_exact=False, rtol=1e-9)


def test_a_coin_with_an_empty_microtape_annotates_to_nothing(settings, dagster_instance):
    """Real captures hold coins with no quoted frame (trades, no book): the coin's MicroTape
    file is empty. Its run writes an empty annotation and zero sums, and the day's expert
    table is the same bytes with it as without it."""
    assert _run(settings, dagster_instance, DAY1).success
    lake = Lake(settings.lake_dir)
    experts = lake.path("dsi_experts", DAY1).read_bytes()
    tape = lake.read("microtape_frames", DAY1)
    lake.write("microtape_frames", DAY1, tape.iloc[:0], coin="ZZZ")
    dagster_instance.add_dynamic_partitions("coins", ["ZZZ"])
    chain = dg.Definitions(assets=_chain(settings), resources=build_resources(settings), jobs=[
        dg.define_asset_job("dsi_coin", selection=["dsi_annotations", "dsi_coin_stats"])])
    run = chain.resolve_job_def("dsi_coin").execute_in_process(
        partition_key=dg.MultiPartitionKey({"date": DAY1, "coin": "ZZZ"}),
        instance=dagster_instance)
    assert run.success
    empty = lake.read_coin("dsi_annotations", DAY1, "ZZZ")
    assert len(empty) == 0
    assert list(empty.columns) == list(lake.read("dsi_annotations", DAY1).columns)
    stats = lake.read_coin("dsi_coin_stats", DAY1, "ZZZ")
    assert len(stats) and (stats["rows"] == 0).all() and (stats["z_n"] == 0).all()
    assert _run(settings, dagster_instance, DAY1, selection=["dsi_experts"]).success
    assert lake.path("dsi_experts", DAY1).read_bytes() == experts
