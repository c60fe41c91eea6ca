"""dm_decisions and paper_trades come from one replay of the DM and the paper Trader
(real Dagster runs on two recorded fixture days): each decision starts from the Trader's
positions, day 2 from day 1's `paper_trades` final state (the asset's declared input on its
own previous day); the stored tickets replayed by the Trader alone give the same table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from lotus_assets.chain import sized_assets
from lotus_assets.day_plan import materialize_day
from lotus_assets.metadata import figure
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.dm.calibration import fit_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.store.lake import Lake
from lotus_core.trader.nightly import paper_day
from lotus_core.trader.plan import ts_ms
from lotus_core.trader.replay import decisions_from_table
from lotus_location.definitions import build_resources
from lotus_resources.feed import FeedSource
from tests.helpers import asset_metadata
from tests.kits.dm_kit import alpha_stream, planted_training, signal_events_of

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DAYS = ["2026-01-02", "2026-01-03"]
DETS = ("breakout_retest_v1", "mean_reversion_z_v1")


@pytest.mark.slow
@pytest.mark.xdist_group("dagster_heavy")
def test_dm_decisions_trade_through_the_trader_and_paper_trades_agree(
        tmp_path: Path, dagster_instance) -> None:  # noqa: ANN001
    settings = load_settings(overrides={"home": str(tmp_path / "home"),
                                        "feed_dir": str(FIXTURES)}, env={})
    lake = Lake(settings.lake_dir)
    cfg = load_dm_settings({})
    train = pd.concat([planted_training(d, 1500, 25.0, i) for i, d in enumerate(DETS)])
    for k, day in enumerate(DAYS):
        feed = parse_recording(FIXTURES / f"{day}.jsonl.gz", day)
        lake.write("microtape_frames", day, build_microtape(feed, MicroTapeParams())
                   .sort_values(["coin", "ts_ms"], kind="stable").reset_index(drop=True))
        alphas = alpha_stream(cfg.coins, DETS, 120, start_ms=ts_ms(f"{day}T12:05:00Z"),
                              span_ms=6_600_000, seed=21 + k)
        lake.write("signal_events", day, signal_events_of(alphas))
        lake.write("dm_calibration", day, fit_calibration(train, cfg.calibration, "w"))
    metas, assets = [], sized_assets(shared_values(settings))
    for day in DAYS:
        result = materialize_day(assets, partition_key=day, instance=dagster_instance,
                                 selection=["dm_decisions", "paper_trades"],
                                 resources=build_resources(settings), raise_on_error=False)
        assert result.success, [e.step_failure_data.error.message for e in result.all_events
                                if e.is_step_failure]
        metas.append(asset_metadata(result, "dm_decisions"))
        paper = lake.read("paper_trades", day)
        meta = metas[-1]
        assert meta["position_source"] == "paper Trader (joint replay)"
        assert meta["trader_fills"] == int((paper["kind"] == "fill").sum()) > 0
        # the Trader alone on the stored tickets: the same rows (one definition of a fill)
        alone, _ = paper_day(settings.trader, FeedSource(feed_dir=str(FIXTURES)).replay_day(day),
                             decisions_from_table(lake.read("dm_decisions", day)),
                             lake.read("paper_trades", DAYS[0]) if day == DAYS[1] else None,
                             lake.read("microtape_frames", day))
        pd.testing.assert_frame_equal(alone, paper.drop(columns=["date"], errors="ignore"))
        end = json.loads(paper["data_json"].iloc[-1])["portfolio_state"]
        assert meta["trader_equity_end"] == figure(end["equity"])  # the surface's rounding
        decisions = lake.read("dm_decisions", day)
        assert decisions["seq"].tolist() == list(range(len(decisions)))
        assert (decisions["w0"] != 0).any()  # decisions start from held positions
    assert metas[0]["carried_over"] == "none (flat start)"
    assert metas[1]["carried_over"] == f"paper_trades {DAYS[0]}"
    # days out of order: D-1 was decided but not traded -> a clear failure, not a flat start
    shutil.rmtree(settings.lake_dir / "paper_trades" / f"date={DAYS[0]}")
    result = materialize_day(assets, partition_key=DAYS[1], instance=dagster_instance,
                             selection=["dm_decisions"], resources=build_resources(settings),
                             raise_on_error=False)
    assert not result.success
    (failure,) = [e.step_failure_data.user_failure_data for e in result.all_events
                  if e.is_step_failure]
    assert failure is not None and f"paper_trades {DAYS[0]} is missing" in failure.description
