"""dsi_annotations and dsi_experts through real Dagster runs over the committed fixtures:
raw_feed -> microtape_frames -> DSI on a temporary LOTUS_HOME, day 1 without history (the
documented fallback), day 2 fitted on day 1."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lotus_assets.day_plan import materialize_day
from lotus_assets.definitions import build_resources, defs
from lotus_assets.dsi import dsi_assets
from lotus_assets.feed import raw_feed
from lotus_assets.microtape import microtape_days, microtape_frames
from lotus_core.config import load_settings
from lotus_core.dsi import DSI_EXPERTS_SCHEMA, DSI_SCHEMA, annotate, expert_table, fit_dsi
from lotus_core.store.lake import Lake

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DAY1, DAY2 = "2026-01-02", "2026-01-03"
ALL = [raw_feed, microtape_frames, microtape_days, dsi_assets]  # just this chain


@pytest.fixture
def settings(tmp_path):
    return load_settings(overrides={"home": str(tmp_path / "home"),
                                    "feed_dir": str(FIXTURES)}, env={})


def _run(settings, instance, day, selection=None):
    return materialize_day(ALL, partition_key=day, instance=instance,
                           resources=build_resources(settings), selection=selection,
                           raise_on_error=False)


def test_dsi_assets_load_and_hang_off_the_microtape(settings):
    chain = dg.Definitions(assets=ALL, resources=build_resources(settings))
    dg.Definitions.validate_loadable(chain)
    graph = chain.resolve_asset_graph()
    keys = {k.path[-1] for k in defs().resolve_asset_graph().get_all_asset_keys()}
    assert {"dsi_annotations", "dsi_experts"} <= keys  # wired into the code location
    for key in ("dsi_annotations", "dsi_experts"):
        node = graph.get(dg.AssetKey(key))
        # the day's tape (every coin), and the window of MicroTape days the fit reads
        assert node.parent_keys == {dg.AssetKey("microtape_frames"),
                                    dg.AssetKey("microtape_days")}
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)


def test_two_fixture_days_fallback_then_history(settings, dagster_instance):
    # without the day's MicroTape the step fails, naming it (history alone is not enough)
    missing = _run(settings, dagster_instance, DAY1, selection=[dsi_assets])
    assert not missing.success
    error = next(e for e in missing.all_events if e.is_step_failure).step_failure_data.error
    assert f"microtape_frames for {DAY1} is not in the lake" in error.message

    first = _run(settings, dagster_instance, DAY1)
    assert first.success
    lake = Lake(settings.lake_dir)
    ann1 = lake.read("dsi_annotations", DAY1)
    exp1 = lake.read("dsi_experts", DAY1)
    DSI_SCHEMA.validate(ann1)
    DSI_EXPERTS_SCHEMA.validate(exp1)
    tape = lake.read("microtape_frames", DAY1)
    assert ann1[["coin", "ts_ms"]].equals(tape[["coin", "ts_ms"]])
    # no history: learned experts silent, reliabilities are the priors
    assert (exp1["hist_days"] == 0).all()
    learned = exp1["kind"].isin(["anomaly", "sequence"])
    assert not exp1.loc[learned, "fitted"].any()
    assert (exp1.loc[learned, "day_flag_frames"] == 0).all()
    prior_mean = exp1["prior_alpha"] / (exp1["prior_alpha"] + exp1["prior_beta"])
    assert np.allclose(exp1["reliability"], prior_mean)
    meta = first.asset_materializations_for_node("dsi_assets")
    assert {m.asset_key.path[-1] for m in meta} == {"dsi_annotations", "dsi_experts"}

    second = _run(settings, dagster_instance, DAY2)
    assert second.success
    exp2 = lake.read("dsi_experts", DAY2)
    DSI_SCHEMA.validate(lake.read("dsi_annotations", DAY2))
    DSI_EXPERTS_SCHEMA.validate(exp2)
    assert (exp2["hist_days"] == 1).all()
    assert exp2.loc[exp2["kind"] == "anomaly", "fitted"].all()
    assert (exp2["hist_trials"] > 0).any()
    assert not np.allclose(exp2["reliability"], prior_mean)

    # re-materialising the DSI step alone gives byte-identical annotations
    before = lake.path("dsi_annotations", DAY2).read_bytes()
    assert _run(settings, dagster_instance, DAY2, selection=[dsi_assets]).success
    assert lake.path("dsi_annotations", DAY2).read_bytes() == before
    # one output alone (what a UI backfill may ask for): the experts' table is the whole
    # pass's, and the annotations are not written
    experts = lake.path("dsi_experts", DAY2).read_bytes()
    alone = _run(settings, dagster_instance, DAY2, selection=["dsi_experts"])
    assert alone.success
    assert {m.asset_key.path[-1] for m in alone.asset_materializations_for_node("dsi_assets")} \
        == {"dsi_experts"}
    assert lake.path("dsi_experts", DAY2).read_bytes() == experts
    assert lake.path("dsi_annotations", DAY2).read_bytes() == before


def test_the_day_annotated_coin_by_coin_is_the_whole_days(settings, dagster_instance):
    """The step reads the history's expert columns only and annotates one coin at a time
    (a row group each); the rows are `annotate` of the whole day fitted on the whole
    history, and the expert table is the whole day's (sums over coins: floats within
    1e-9 relative, the day's sums being added in another order)."""
    assert _run(settings, dagster_instance, DAY1).success
    assert _run(settings, dagster_instance, DAY2).success
    lake = Lake(settings.lake_dir)
    tape1, tape2 = lake.read("microtape_frames", DAY1), lake.read("microtape_frames", DAY2)
    model = fit_dsi(tape1.assign(date=DAY1))  # every column
    whole = annotate(tape2, model)
    ann = lake.read("dsi_annotations", DAY2)
    assert ann["coin"].nunique() >= 2
    assert pq.ParquetFile(lake.path("dsi_annotations", DAY2)).metadata.num_row_groups \
        == ann["coin"].nunique()
    pd.testing.assert_frame_equal(ann, whole.annotations, check_exact=False, rtol=1e-12)
    experts = lake.read("dsi_experts", DAY2)
    assert (experts["day_flag_frames"] > 0).any()  # the tally was filled as coins were written
    pd.testing.assert_frame_equal(experts, expert_table(DAY2, tape2, model, whole),
                                  check_exact=False, rtol=1e-9)
