"""exec_lessons and tr_priors through a real Dagster run: five days of generated paper_trades
(a limit order 4 bps cheaper than a market order in wide spreads) in the lake, the night of
the last day materialised; the lesson is active and the fabric holds a tr priors version
that prefers limit orders in wide spreads, which paper_trades uses from the next day."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from lotus_assets.partitions import daily_partitions, size_windows
from lotus_assets.trader import TRADER_ASSETS, exec_lessons, tr_priors
from lotus_core.config import Settings
from lotus_core.config.shared import shared_values
from lotus_core.learning.priors_store import latest_version, read_version
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_core.trader.learning import load_exec_learning
from lotus_core.trader.priors import tr_priors as tr_priors_for
from lotus_resources.feed import FeedSource
from lotus_resources.lake import LakeIOManager, LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.settings import SettingsResource
from tests.kits.exec_kit import window

pytestmark = [pytest.mark.xdist_group("trader_assets"), pytest.mark.slow]

# paper_trades is made by the DM's joint replay (lotus_assets/dm.py); here it is read from the
# lake partitions the test wrote
PAPER_TRADES = dg.AssetSpec("paper_trades", partitions_def=daily_partitions).with_io_manager_key(
    "lake_io")


def test_exec_lessons_night_writes_a_tr_priors_version(tmp_path: Path,
                                                        dagster_instance) -> None:  # noqa: ANN001
    lake = Lake(tmp_path / "lake")
    days = window(5, 1, delta_bps=4.0)
    for day, rows in days.items():
        lake.write("paper_trades", day, rows)
    last = sorted(days)[-1]
    url = f"sqlite:///{tmp_path / 'fabric.sqlite'}"
    res = LakeResource(root=str(tmp_path / "lake"))
    resources = {"lake": res, "lake_io": LakeIOManager(lake=res),
                 "feed": FeedSource(feed_dir=str(tmp_path)), "fabric": OpsDbResource(url=url),
                 "settings": SettingsResource.of(Settings())}
    for _ in range(2):  # a re-run of the partition adds no version
        result = dg.materialize([*size_windows(TRADER_ASSETS, shared_values(Settings())),
                                 PAPER_TRADES],
                                partition_key=last, instance=dagster_instance,
                                resources=resources, selection=[exec_lessons, tr_priors],
                                raise_on_error=False)
        assert result.success, [e.step_failure_data.error.message for e in result.all_events
                                if e.is_step_failure]
    lessons = lake.read("exec_lessons", last)
    active = lessons[lessons["state"] == "active"]
    assert "order=limit&spread=wide" in set(active["rule"])
    assert (active["rule"].str.contains("spread=wide")).all()
    braids = lake.read("tr_priors", last)
    assert "chosen" in set(braids["compiled"])
    meta = result.asset_materializations_for_node("exec_lessons")[0].metadata
    assert meta["executions"].value == 3000
    with OpsDb.open(url) as fabric:
        assert latest_version(fabric, "tr") == 1
        rows = read_version(fabric, 1, "tr").rows
        assert rows["patch/*/spread=wide/order"] == 1.0
        nxt = tr_priors_for(fabric, "2026-01-10", cfg=load_exec_learning()[0])
        assert nxt.version == 1 and nxt.choose("BTC", {"spread_bps": 50.0}) == {"order": "limit"}
