"""`microtape_gaps_nan_stale` on a coin whose recording has no trades channel: its trade
columns' NaN (the tape's rule, docs/microtape.md) is shown against `max_nan_rate` as a
missing channel, not judged, while every other column is judged as before; the same NaN
on a coin whose raw_feed shows the channel fails as a data fault.

Runs the check through Dagster (`dg.materialize`) on a stub `microtape_frames`, reading the
coin's tape and the day's raw_feed from a lake, as the check reads them nightly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from lotus_assets.checks import microtape_gaps_nan_stale
from lotus_assets.partitions import COINS, day_coin_key, day_coin_partitions
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import ensure_keys
from lotus_core.store.lake import Lake
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.router import FabricKeysResource

DAY = "2026-02-05"
Run = Callable[[pd.DataFrame, pd.DataFrame | None], dict[str, Any]]
"""The check on a coin's tape and the day's raw_feed (None: no partition): its result."""
CHANNELS = ("l2Book", "trades", "bbo", "activeAssetCtx", "candle")


@dg.asset(name="microtape_frames", partitions_def=day_coin_partitions)
def _tape_stub() -> dg.MaterializeResult:
    """Stands in for the asset: the check reads the lake."""
    return dg.MaterializeResult()


def _tape(coin: str, n: int = 600) -> pd.DataFrame:
    """A coin's tape whose aggr_imb is NaN after its first minute (no trades channel)."""
    rng = np.random.default_rng(3)
    ts = 20_489 * 86_400_000 + np.arange(n, dtype=np.int64) * 1_000
    imb = rng.uniform(-1, 1, n)
    imb[60:] = np.nan
    return pd.DataFrame({"coin": coin, "ts_ms": ts, "mid_px": 100.0, "spread_bps": 1.0,
                         "rv_bps": 2.0, "book_imb_5": rng.uniform(-1, 1, n),
                         "aggr_imb": imb, "depth_5_rel": 1.0,
                         "stale_ms": np.zeros(n, dtype=np.int64)})


def _raw_feed(channels: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    rows = [(ch, coin, 10) for coin, chs in channels.items() for ch in chs]
    return pd.DataFrame(rows, columns=["channel", "coin", "frames"]).astype(
        {"channel": "str", "coin": "str", "frames": "int64"})


@pytest.fixture
def run(tmp_path: Path) -> Run:
    keys = tmp_path / "keys"
    ensure_keys(MODULES, keys)
    lake = Lake(tmp_path / "lake")
    resources = {"fabric": OpsDbResource(url=f"sqlite:///{tmp_path / 'fabric.sqlite'}"),
                 "fabric_keys": FabricKeysResource(key_dir=str(keys)),
                 "lake": LakeResource(root=str(tmp_path / "lake"))}

    def check(tape: pd.DataFrame, feed: pd.DataFrame | None) -> dict[str, Any]:
        coin = str(tape["coin"].iloc[0])
        lake.write("microtape_frames", DAY, tape, coin=coin)
        if feed is not None:
            lake.write("raw_feed", DAY, feed)
        with dg.DagsterInstance.ephemeral() as instance:
            instance.add_dynamic_partitions(COINS, [coin])
            result = dg.materialize([_tape_stub, microtape_gaps_nan_stale],
                                    partition_key=day_coin_key(DAY, coin), instance=instance,
                                    resources=resources, raise_on_error=False)
        (ev,) = result.get_asset_check_evaluations()
        return {"passed": ev.passed, **{k: v.value for k, v in ev.metadata.items()}}
    return check


def test_a_missing_trades_channel_is_reported_not_judged(run: Run) -> None:
    got = run(_tape("SOL"), _raw_feed({"SOL": tuple(c for c in CHANNELS if c != "trades"),
                                       "BTC": CHANNELS}))
    assert got["passed"], got["detail"]
    assert got["detail"] == "ok" and got["missing_channels"] == ["trades"]
    assert got["nan_rate_aggr_imb"] == pytest.approx(0.9)
    assert ("| nan_rate_aggr_imb | 0.9 | <= 0.05 (not judged: missing channel: no trades "
            "channel for SOL) | missing channel | ok |") in got["measures"]


def test_the_other_columns_stay_judged_without_the_trades_channel(run: Run) -> None:
    tape = _tape("SOL")
    tape.loc[100:, "book_imb_5"] = np.nan
    got = run(tape, _raw_feed({"SOL": ("l2Book", "bbo")}))
    assert not got["passed"]
    assert got["detail"].startswith("nan_rate_book_imb_5 0.8333 > max_nan_rate 0.05: ")
    assert "aggr_imb" not in got["detail"] and got["missing_channels"] == ["trades"]


def test_the_same_nan_with_the_channel_recorded_is_a_fault(run: Run) -> None:
    got = run(_tape("SOL"), _raw_feed({"SOL": CHANNELS}))
    assert not got["passed"] and got["missing_channels"] == "none"
    assert got["detail"] == ("nan_rate_aggr_imb 0.9 > max_nan_rate 0.05: aggr_imb is "
                             "missing on too many frames")


def test_without_a_raw_feed_partition_nothing_excuses_the_nan(run: Run) -> None:
    got = run(_tape("SOL"), None)
    assert not got["passed"] and got["missing_channels"] == "none"
    assert got["detail"].startswith("nan_rate_aggr_imb 0.9 > max_nan_rate 0.05")
