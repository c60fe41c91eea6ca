"""A chart as a Decision-Maker source, through Dagster: charts submitted for BTC at times of
one day (rendered, read by the real reader) become `vis_strands` rows, `vis_eval` measures
what BTC did after each, and `dm_calibration` fits the source `vis` from those outcomes: on
the charts' own day it is a new source at the conservative prior, the next day its
reliability and edge come from the realised outcomes; a chart lesson's vis priors version
weighs the next day's chart (its table row and its live CHART_ALPHA)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from lotus_assets.chain import sized_assets
from lotus_assets.dm import dm_calibration
from lotus_assets.partitions import daily_partitions
from lotus_assets.vis import vis_eval, vis_strands
from lotus_core.columns import STR
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.dm.alpha import AlphaEvent
from lotus_core.dm.calibration import Calibration
from lotus_core.dm.vis_source import vis_alphas
from lotus_core.fabric.outbox import read_outbox
from lotus_core.learning.priors_store import nightly_source, write_rows
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_core.vis.intake import accept_chart
from lotus_core.vis.patterns import direction_of
from lotus_core.vis.source import DETECTOR
from lotus_location.definitions import build_definitions, build_resources
from tests.core.vis.chart_kit import chart
from tests.kits.dm_kit import signal_events_of, tape_rows

DAY, NEXT = "2026-01-05", "2026-01-06"
TIMES = [f"2026-01-05T12:{m:02d}:00Z" for m in (0, 5, 10, 15, 20, 25)]


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def _tape(bp: float) -> pd.DataFrame:
    """BTC every 10 s over 12:00-13:00, the mid moving `bp` bp a frame."""
    ts = _ms("2026-01-05T12:00:00") + 10_000 * np.arange(360, dtype=np.int64)
    n = len(ts)
    return pd.DataFrame({"coin": pd.array(["BTC"] * n, dtype=STR), "ts_ms": ts,
                         "mid_px": 100.0 * np.exp(bp * 1e-4 * np.arange(n)),
                         "spread_bps": np.full(n, 1.0), "gap": np.zeros(n, dtype=bool)})



UPSTREAM = [dg.AssetSpec(k, partitions_def=daily_partitions).with_io_manager_key("lake_io")
            for k in ("microtape_days", "signal_events_days", "signal_eval_days",
                      "signal_eval_late")]


def test_a_chart_source_starts_at_the_prior_and_its_outcomes_calibrate_it(home: Path) -> None:
    # 5 done outcomes a horizon are enough to fit here (the default asks 60)
    settings = load_settings(overrides={"home": str(home), "feed_dir": str(home / "no_feed"),
                                        "dm": {"calibration": {"min_windows": 5}}}, env={})
    lake = Lake(settings.lake_dir)
    lake.write("microtape_frames", DAY, _tape(+1.0), coin="BTC")  # BTC rises after the charts
    image = chart("trend_up", 11, "candles", "dark")[2]
    with OpsDb.open(settings.fabric) as fabric:
        ids = [accept_chart(fabric, home, image, coin="BTC", at=at).strand_id for at in TIMES]
    resources = build_resources(settings)
    run = dg.materialize([*UPSTREAM, vis_strands, vis_eval], selection=[vis_strands, vis_eval],
                         partition_key=DAY, resources=resources)
    assert run.success

    strands = lake.read("vis_strands", DAY)
    assert sorted(strands["strand_id"]) == sorted(ids)
    flags = json.loads(strands["pattern_flags"].iloc[0])
    assert direction_of(flags) == +1  # read as trend_up: a long chart
    alphas = vis_alphas(strands)
    assert [a.alpha_id for a in alphas] == list(strands["strand_id"])
    assert {(a.detector_id, a.coin, a.direction) for a in alphas} == {(DETECTOR, "BTC", 1)}
    ev = lake.read("vis_eval", DAY)
    done = ev[ev["horizon_s"].isin([60, 300]) & (ev["status"] == "done")]
    assert len(done) == 2 * len(TIMES) and (done["fwd_ret_bps"] > 0).all()

    def calibrate(day: str) -> pd.DataFrame:
        res = dg.materialize([*UPSTREAM, vis_strands, vis_eval, dm_calibration],
                             selection=[dm_calibration], partition_key=day,
                             resources=resources)
        assert res.success
        table = lake.read("dm_calibration", day)
        return table[table["detector_id"] == DETECTOR].set_index("horizon_s")

    # the charts' own day: a new source, the conservative prior (its outcomes are not
    # history yet: a day never trains its own calibration)
    prior = calibrate(DAY)
    assert list(prior.index) == [60, 300]
    assert (prior["status"] == "prior").all() and (prior["reliability"] == 0.0).all()
    assert (prior["mu_knots"] == "[0.0,0.0]").all()

    # the next day: fitted on the charts' realised outcomes (BTC rose after each long chart)
    fitted = calibrate(NEXT)
    assert (fitted["status"] == "fitted").all() and (fitted["n"] == len(TIMES)).all()
    assert (fitted["reliability"] > 0.5).all()
    calib = Calibration(lake.read("dm_calibration", NEXT), settings.dm.calibration)
    conf = float(strands["confidence"].iloc[0])
    for h in (60, 300):  # 1 bp a frame of 10 s: h/10 bp after each chart
        long = calib.forecast(DETECTOR, h, "BTC", conf, +1)
        assert long.status == "fitted" and long.mu_raw_bps == pytest.approx(h / 10, rel=0.01)
        assert long.edge_bps > 0
        assert calib.forecast(DETECTOR, h, "BTC", conf, -1).edge_bps < 0


    # the next day's nightly DM: a chart of that day is an alpha, decided with the calibrated
    # source (no recording of the day: the DM alone, its own targets filled at mid)
    start = _ms("2026-01-06T00:00:00")
    lake.write("microtape_frames", NEXT, tape_rows(("BTC",), seconds=900, start_ms=start),
               coin="BTC")
    # the day's signal_events: one window, not published (no detector alpha)
    quiet = signal_events_of([AlphaEvent("w0", start + 1000, "BTC", "d0", 60, 1, 0.9, ())])
    lake.write("signal_events", NEXT, quiet.assign(published=False))
    # a chart lesson compiled the night of DAY weighs long charts up from NEXT on: the
    # chart recorded now carries the newest weight to the live DM, the table of NEXT the
    # weight in force that day, and DAY's table (re-run) keeps its own
    with OpsDb.open(settings.fabric) as fabric:
        write_rows(fabric, {"cap/max_patches": 8.0, "patch/*/dir=long/weight": 1.3},
                   nightly_source(DAY), module="vis")
        today = accept_chart(fabric, home, image, coin="BTC", at="2026-01-06T00:10:00Z")
        (posted,) = [r.envelope["payload"] for r in read_outbox(fabric, "vis", limit=100,
                                                                pending_only=False)
                     if r.envelope["payload"]["strand_id"] == today.strand_id]
    assert posted["weight"] == 1.3
    assert dg.materialize([*UPSTREAM, vis_strands], selection=[vis_strands],
                          partition_key=NEXT, resources=resources).success
    weighed = lake.read("vis_strands", NEXT)
    assert list(weighed["weight"]) == [1.3]
    (alpha,) = vis_alphas(weighed)
    assert alpha.curated_sigma == pytest.approx(1.3 * float(weighed["confidence"].iloc[0]))
    assert dg.materialize([*UPSTREAM, vis_strands], selection=[vis_strands],
                          partition_key=DAY, resources=resources).success
    assert (lake.read("vis_strands", DAY)["weight"] == 1.0).all()
    res = dg.materialize(sized_assets(shared_values(settings)), selection=["dm_decisions"],
                         partition_key=NEXT, resources=resources)
    assert res.success
    decided = lake.read("dm_decisions", NEXT)
    (row,) = decided[decided["alpha_id"] == today.strand_id].itertuples()
    ticket = json.loads(row.ticket_json)
    assert row.coin == "BTC" and f"vis@BTC:{today.strand_id}@300s" in ticket["rationale"][
        "blend_weights"]
    assert row.action == "trade" and row.target > 0 and row.edge_bps > 0


def test_the_decision_maker_reads_the_charts_in_lineage(tmp_path: Path) -> None:
    graph = build_definitions(load_settings(env={"LOTUS_HOME": str(tmp_path)})
                              ).resolve_asset_graph()
    assert {dg.AssetKey("vis_strands"), dg.AssetKey("vis_eval")} <= graph.get(
        dg.AssetKey("dm_calibration")).parent_keys
    assert dg.AssetKey("vis_strands") in graph.get(dg.AssetKey("dm_decisions")).parent_keys
