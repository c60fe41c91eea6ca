"""The paper Trader's day on hand-written tickets of every strategy (market, limit, TWAP):
positions carried across midnight by `paper_day` (the table `paper_trades` holds; the asset
itself comes from the DM's joint replay, tests/assets/test_dm_trader_assets.py), then
`executor_scores` through a real Dagster run on the two fixture days."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from lotus_assets.partitions import daily_partitions, size_windows
from lotus_assets.trader import TRADER_ASSETS
from lotus_core.config import Settings
from lotus_core.config.shared import shared_values
from lotus_core.fabric.contracts import first_error
from lotus_core.store.lake import Lake
from lotus_core.time import day_start_ms
from lotus_core.trader.nightly import paper_day
from lotus_core.trader.plan import ts_ms
from lotus_core.trader.replay import decisions_from_table
from lotus_core.trader.reports import iso
from lotus_resources.feed import FeedSource
from lotus_resources.lake import LakeIOManager, LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.settings import SettingsResource

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DAYS = ["2026-01-02", "2026-01-03"]

# paper_trades is made by the DM's joint replay (lotus_assets/dm.py); here it is read from the
# lake partitions the test wrote
PAPER_TRADES = dg.AssetSpec("paper_trades", partitions_def=daily_partitions).with_io_manager_key(
    "lake_io")


def _decisions(day: str) -> pd.DataFrame:
    t0 = ts_ms(f"{day}T12:01:00Z")  # the fixtures record 12:00-14:00 UTC
    rows = []
    for k, (coin, w, strat) in enumerate([("BTC", 0.2, "market"), ("ETH", -0.1, "limit"),
                                          ("SOL", 0.1, "twap")]):
        ts = t0 + k * 600_000
        did = f"{day}-d{k}"
        ticket = {"schema_ver": "dm-decision-1.0", "decision_id": did, "asof_ts": iso(ts),
                  "portfolio_id": "default", "target_type": "weights", "targets": {coin: w},
                  "horizon": "1d", "confidence": 0.5, "valid_until": iso(ts + 300_000),
                  "rationale": {"top_alphas": ["det:test"]},
                  "audit_refs": {"tr.execution_strategy": strat, "tr.stop_loss_bps": "900",
                                 "tr.take_profit_bps": "1800"}}
        assert first_error("urn:lotus:schema:dm-decision-1.0", ticket, "t") is None
        rows.append({"decision_id": did, "ts_ms": ts, "coin": coin,
                     "ticket_json": json.dumps(ticket, sort_keys=True)})
    return pd.DataFrame(rows)


def test_paper_trades_carry_positions_and_score_executors(tmp_path: Path,
                                                          dagster_instance) -> None:  # noqa: ANN001
    lake = Lake(tmp_path / "lake")
    feed = FeedSource(feed_dir=str(FIXTURES))
    previous = None
    for day in DAYS:  # day 2 has no decisions: it only carries day 1's positions
        tickets = decisions_from_table(_decisions(day)) if day == DAYS[0] else []
        table, _ = paper_day(Settings().trader, feed.replay_day(day), tickets, previous)
        lake.write("paper_trades", day, table)
        previous = table
    res = LakeResource(root=str(tmp_path / "lake"))
    resources = {"lake": res, "lake_io": LakeIOManager(lake=res),
                 "feed": feed,
                 "fabric": OpsDbResource(url=f"sqlite:///{tmp_path / 'fabric.sqlite'}"),
                 "settings": SettingsResource.of(Settings())}  # the default trader section
    assets = [*size_windows(TRADER_ASSETS, shared_values(Settings())), PAPER_TRADES]
    for day in DAYS:
        result = dg.materialize(assets, partition_key=day, instance=dagster_instance,
                                resources=resources, selection=["executor_scores"])
        assert result.success
    first, second = lake.read("paper_trades", DAYS[0]), lake.read("paper_trades", DAYS[1])
    assert (first["kind"] == "fill").sum() >= 3
    end1 = json.loads(first["data_json"].iloc[-1])
    held = set(end1["portfolio_state"]["positions"])
    assert held and held <= {"BTC", "ETH", "SOL"}
    # day 2 starts from day 1's positions: funding accrues on them, no new entries
    start2 = second[second["kind"] == "position"]
    assert set(start2["coin"]) == held
    end2 = json.loads(second["data_json"].iloc[-1])
    # no decision on day 2; day 1's, their validity passed, are forgotten at the day's roll
    assert {k for k, _ in end2["seen"]} <= {k for k, _ in end1["seen"]} and end1["seen"]
    assert all(until > day_start_ms(DAYS[1]) for _, until in end2["seen"])
    assert end2["portfolio"]["funding"] != end1["portfolio"]["funding"]
    scores = lake.read("executor_scores", DAYS[0])
    day = scores[scores["window"] == "day"]
    assert set(day["strategy"]) >= {"market", "limit", "twap"}
    assert ((day["fill_rate"] >= 0) & (day["fill_rate"] <= 1)).all()
    meta = result.asset_materializations_for_node("executor_scores")[0].metadata
    assert {"rows", "fill_rate_day"} <= set(meta)
