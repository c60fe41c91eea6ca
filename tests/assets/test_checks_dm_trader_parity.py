"""The `dm_trader_parity` check through real Dagster runs (the lake IO manager, the fabric,
the feed resource) on a recorded fixture day (its first 25 minutes) with published
signals the calibration trades on:

- `dm_decisions` and `paper_trades` materialised with their checks: the day driven through
  the daemon's own dm and trader loops posts the nightly tickets and makes its fills, and
  the check passes, reporting what it compared and its CPU seconds;
- with one nightly ticket's target and one nightly fill's price altered in the lake, the
  check alone re-run warns, naming that ticket and that fill, and posts its WATCHDOG_ALERT;
- on a day whose data lacks a configured coin (the recording without ETH, SOL's first
  minutes cut), the live loops still post the nightly tickets and make its fills: both
  decide on the coins the data carries, SOL from its first row.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from lotus_assets.audits import AUDIT_CHECKS
from lotus_assets.chain import sized_assets
from lotus_assets.checks import SURFACE_CHECKS, dm_trader_parity
from lotus_assets.day_plan import materialize_day
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.dm.calibration import fit_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.parity import RTOL
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_core.trader.plan import ts_ms
from lotus_location.definitions import build_resources
from lotus_resources.event_log import instance_overrides
from tests.helpers import asset_metadata, small_day
from tests.kits.dm_kit import alpha_stream, planted_training, signal_events_of
from tests.kits.signals_kit import FIXTURES

pytestmark = pytest.mark.slow
DAY = "2026-01-02"
DETS = ("breakout_retest_v1", "mean_reversion_z_v1")
CHECKS = [*AUDIT_CHECKS, *SURFACE_CHECKS]


def _defs(settings):  # noqa: ANN001, ANN202 - the chain sized for `settings`, and its checks
    return [*sized_assets(shared_values(settings)), *CHECKS]


def _check(result: dg.ExecuteInProcessResult) -> tuple[dg.AssetCheckEvaluation, dict]:
    found = [e for e in result.get_asset_check_evaluations()
             if e.check_name == "dm_trader_parity"]
    assert found
    return found[-1], {k: v.value for k, v in found[-1].metadata.items()}


def _materialised(root: Path, rec: Path):  # noqa: ANN202 - (settings, instance, result)
    """dm_decisions and paper_trades of the recording `rec` with their checks, the day's
    MicroTape made from it and 60 published signals on every configured coin."""
    settings = load_settings(overrides={"home": str(root / "home"),
                                        "feed_dir": str(root / "feed"),
                                        "verify_manifest": False}, env={})
    lake = Lake(settings.lake_dir)
    cfg = load_dm_settings({})
    feed = parse_recording(rec, DAY)
    lake.write("microtape_frames", DAY, build_microtape(feed, MicroTapeParams())
               .sort_values(["coin", "ts_ms"], kind="stable").reset_index(drop=True))
    alphas = alpha_stream(cfg.coins, DETS, 60, start_ms=ts_ms(f"{DAY}T12:02:00Z"),
                          span_ms=1_300_000, seed=5)
    events = signal_events_of(alphas).assign(history_window="2025-12-26..2026-01-01",
                                             data_fingerprint="sha256:" + "cd" * 32)
    lake.write("signal_events", DAY, events)
    train = pd.concat([planted_training(d, 1500, 25.0, i) for i, d in enumerate(DETS)])
    lake.write("dm_calibration", DAY, fit_calibration(train, cfg.calibration, "w"))
    (root / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(root / "dagster"),
                              overrides=instance_overrides(root / "dagster")) as instance:
        result = materialize_day(_defs(settings), partition_key=DAY, instance=instance,
                                 resources=build_resources(settings),
                                 selection=dg.AssetSelection.assets("dm_decisions",
                                                                    "paper_trades"),
                                 raise_on_error=False)
        assert result.success, [e.step_failure_data.error.message for e in result.all_events
                                if e.is_step_failure]
        yield settings, instance, result


@pytest.fixture(scope="module")
def traded_day(tmp_path_factory):
    root = tmp_path_factory.mktemp("trade_parity")
    rec = small_day(FIXTURES / f"{DAY}.jsonl.gz", root / "feed" / f"{DAY}.jsonl.gz", 25)
    yield from _materialised(root, rec)


def _coin_of(msg: object) -> str | None:
    """The coin a recorded message is about (None: the connection's own messages)."""
    if not isinstance(msg, dict):
        return None
    data = msg.get("data")
    if msg.get("channel") == "subscriptionResponse":
        return data["subscription"].get("coin")
    if isinstance(data, list):
        return data[0].get("coin") if data else None
    return data.get("coin", data.get("s")) if isinstance(data, dict) else None


@pytest.fixture(scope="module")
def lacking_day(tmp_path_factory):
    """The first 25 minutes without ETH (a configured coin), SOL's market data from its
    6th minute on: the DM's universe is BTC, then BTC and SOL."""
    root = tmp_path_factory.mktemp("trade_parity_lacking")
    rec = small_day(FIXTURES / f"{DAY}.jsonl.gz", root / "feed" / f"{DAY}.jsonl.gz", 25)
    lines = gzip.decompress(rec.read_bytes()).splitlines(keepends=True)
    t0 = json.loads(lines[0])["recv_ts_ms"]
    keep = []
    for line in lines:
        rec_line = json.loads(line)
        coin = _coin_of(rec_line["msg"])
        late = coin == "SOL" and rec_line["recv_ts_ms"] < t0 + 300_000 \
            and rec_line["msg"]["channel"] != "subscriptionResponse"
        if coin != "ETH" and not late:
            keep.append(line)
    rec.write_bytes(gzip.compress(b"".join(keep), mtime=0))
    yield from _materialised(root, rec)


def test_the_live_loops_post_the_nightly_tickets_and_make_its_fills(traded_day):
    settings, _, result = traded_day
    ev, meta = _check(result)
    assert ev.passed, meta["detail"]
    assert ev.severity == dg.AssetCheckSeverity.WARN
    lake = Lake(settings.lake_dir)
    decisions, paper = lake.read("dm_decisions", DAY), lake.read("paper_trades", DAY)
    fills = int((paper["kind"] == "fill").sum())
    assert fills > 0 and (decisions["action"] == "trade").any()  # something to compare
    assert meta["compared_tickets"] == meta["nightly_tickets"] == meta["live_tickets"] \
        == len(decisions)
    assert meta["compared_fills"] == meta["nightly_fills"] == meta["live_fills"] == fills
    assert meta["mismatched_tickets"] == meta["mismatched_fills"] == 0
    assert meta["max_rel_diff"] <= RTOL and meta["rtol"] == RTOL
    assert meta["alphas"] == 60 and meta["trader_events"] > 0
    assert meta["live_cpu_seconds"] > 0
    assert f"{len(decisions)} tickets and {fills} fills compared" in meta["detail"]
    assert "| mismatched_trades |" in meta["measures"]


def test_an_altered_ticket_and_fill_are_named(traded_day):
    settings, instance, _ = traded_day
    lake = Lake(settings.lake_dir)
    decisions, paper = lake.read("dm_decisions", DAY), lake.read("paper_trades", DAY)
    k = int(decisions.index[decisions["action"] == "trade"][0])
    bad_ticket = decisions.copy()
    bad_ticket.loc[k, "target"] = float(decisions.loc[k, "target"]) + 0.01
    j = int(paper.index[paper["kind"] == "fill"][0])
    fill = json.loads(paper.loc[j, "data_json"])
    bad_paper = paper.copy()
    bad_paper.loc[j, "data_json"] = json.dumps({**fill, "px": fill["px"] * (1 + 1e-4)})
    lake.write("dm_decisions", DAY, bad_ticket.drop(columns=["date"], errors="ignore"))
    lake.write("paper_trades", DAY, bad_paper.drop(columns=["date"], errors="ignore"))
    try:
        # the check on the lake's partitions (a selection with an asset takes a partition
        # key: the day's raw_feed, re-made from the same recording, is that asset)
        result = materialize_day(_defs(settings), partition_key=DAY, instance=instance,
                                 resources=build_resources(settings), raise_on_error=False,
                                 selection=dg.AssetSelection.checks(dm_trader_parity)
                                 | dg.AssetSelection.assets("raw_feed"))
    finally:
        lake.write("dm_decisions", DAY, decisions.drop(columns=["date"], errors="ignore"))
        lake.write("paper_trades", DAY, paper.drop(columns=["date"], errors="ignore"))
    ev, meta = _check(result)
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
    assert meta["mismatched_tickets"] == 1 and meta["mismatched_fills"] == 1
    shown = meta["first_mismatches"]
    did = decisions.loc[k, "decision_id"]
    assert any(s.startswith(f"ticket {did} target: ") for s in shown), shown
    assert any(s.startswith(f"fill {fill['fill_id']} px: ") for s in shown), shown
    assert f"ticket {did} target" in meta["detail"] and "mismatched_trades 2 > 0" in \
        meta["detail"]
    with OpsDb.open(settings.fabric) as fabric, fabric.transaction() as tx:
        keys = {dict(r)["dedupe_key"] for r in tx.query(
            "SELECT dedupe_key FROM sig_outbox WHERE dedupe_key LIKE 'check:%'")}
    assert f"check:dm_trader_parity:{DAY}" in keys


def test_a_day_without_a_configured_coin_is_decided_alike(lacking_day):
    """The check fails if live and nightly differ where the day's data lacks ETH (and has
    SOL only from its 6th minute): the universe is the coins the data carries, each from
    its first row, on both sides."""
    settings, _, result = lacking_day
    ev, meta = _check(result)
    assert ev.passed, meta["detail"]
    lake = Lake(settings.lake_dir)
    decisions, paper = lake.read("dm_decisions", DAY), lake.read("paper_trades", DAY)
    rows = lake.read("microtape_frames", DAY)
    assert set(rows["coin"]) == {"BTC", "SOL"}
    sol_from = int(rows.loc[rows["coin"] == "SOL", "ts_ms"].min())
    dmeta = asset_metadata(result, "dm_decisions")
    assert dmeta["universe"] == "BTC, SOL" and dmeta["coins_left_out"] == "ETH"
    # every alpha comes: ETH's decide nothing, SOL's before its first row neither
    assert meta["alphas"] == 60 and meta["compared_tickets"] == meta["live_tickets"] \
        == len(decisions) > 0 and meta["mismatched_tickets"] == meta["mismatched_fills"] == 0
    assert "ETH" not in set(decisions["coin"])
    assert not decisions["binding"].str.contains("ETH").any()
    early = decisions[decisions["ts_ms"] < sol_from]
    assert len(early) and not early["binding"].str.contains("SOL").any()
    assert (decisions.loc[decisions["ts_ms"] >= sol_from, "coin"] == "SOL").any()
    assert meta["compared_fills"] == int((paper["kind"] == "fill").sum())
