"""paper_trades and executor_scores through a real Dagster run on two fixture days:
decisions from a dm_decisions partition (the contract's four columns), positions carried
across midnight, executor scores per strategy/venue/coin."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from lotus_assets.trader import TRADER_ASSETS
from lotus_core.config import Settings
from lotus_core.fabric.contracts import first_error
from lotus_core.store.lake import Lake
from lotus_core.trader.plan import ts_ms
from lotus_core.trader.reports import iso
from lotus_resources.feed import FeedSource
from lotus_resources.lake import LakeIOManager, LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.settings import SettingsResource

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DAYS = ["2026-01-02", "2026-01-03"]


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
    lake.write("dm_decisions", DAYS[0], _decisions(DAYS[0]))  # day 2 has no decisions
    res = LakeResource(root=str(tmp_path / "lake"))
    resources = {"lake": res, "lake_io": LakeIOManager(lake=res),
                 "feed": FeedSource(feed_dir=str(FIXTURES)),
                 "fabric": OpsDbResource(url=f"sqlite:///{tmp_path / 'fabric.sqlite'}"),
                 "settings": SettingsResource.of(Settings())}  # the default trader section
    for day in DAYS:
        result = dg.materialize(TRADER_ASSETS, partition_key=day, instance=dagster_instance,
                                resources=resources)
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
    assert end2["seen"] == end1["seen"]
    assert end2["portfolio"]["funding"] != end1["portfolio"]["funding"]
    scores = lake.read("executor_scores", DAYS[0])
    day = scores[scores["window"] == "day"]
    assert set(day["strategy"]) >= {"market", "limit", "twap"}
    assert ((day["fill_rate"] >= 0) & (day["fill_rate"] <= 1)).all()
    meta = result.asset_materializations_for_node("paper_trades")[0].metadata
    assert {"fills", "equity", "max_drawdown", "slippage_bps"} <= set(meta)
