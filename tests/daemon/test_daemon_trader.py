"""The trader loop: same fills as the nightly replay on a recorded day; restored after
kill -9 with no fill applied twice; EXEC_REPORT envelopes to dm and sig. One driver
(`lotus_core.trader.driver`): the replay clock and the live clock (decisions waiting for the
market, every event handed over) step the same day to the same outputs, and so does the
daemon's loop on the market hub."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import trader_daemon_kit as kit

from lotus_core.fabric.connect import open_opsdb
from lotus_core.fabric.envelope import validate_envelope
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.outbox import read_outbox
from lotus_core.feed.parse import parse_recording
from lotus_core.store.url import sqlite_url
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.replay import market_events, replay_day
from lotus_core.trader.store import read_fills, read_positions
from lotus_daemon.loops import LoopContext
from lotus_daemon.loops.trader import TraderLoop
from lotus_daemon.market import HubTraderSource, MarketHub
from tests.kits.trader_live_kit import drive_live

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    feed = kit.make_day(tmp_path_factory.mktemp("trader_feed"))
    day = parse_recording(feed)
    return feed, day, kit.decisions(day)


def _nightly(day, decs):  # noqa: ANN001, ANN202
    eng = TraderEngine(kit.settings())
    res = replay_day(eng, day, decs)
    fills = [o.data for o in res.outputs if o.kind == "fill"]
    return eng, fills


def _run_loop(url: str, home: Path, source, commit_steps: bool = True) -> TraderLoop:  # noqa: ANN001
    loop = TraderLoop(kit.settings(), source=source, checkpoint_events=1000,
                      commit_steps=commit_steps)
    ctx = LoopContext(url, home / "keys", home, threading.Event())
    loop.run(ctx)
    return loop


def test_live_loop_gives_the_nightly_fills(recorded, tmp_path: Path,  # noqa: ANN001
                                           fabric_url: str) -> None:
    """On SQLite and PostgreSQL (migration 0006 in both dialects)."""
    feed, day, decs = recorded
    eng, nightly = _nightly(day, decs)
    assert len(nightly) > 10
    url = fabric_url
    with open_opsdb(url) as fabric:
        kit.deliver(fabric, decs, Keyring(tmp_path / "keys").private_key("dm"))
    loop = _run_loop(url, tmp_path, kit.replay_source(day))
    assert loop.stats["decisions"] == len(decs)
    with open_opsdb(url, migrate=False) as fabric, fabric.transaction() as tx:
        live = read_fills(tx)
        positions = {r["coin"]: r["qty"] for r in read_positions(tx)}
        pending = tx.scalar("SELECT count(*) FROM tr_inbox WHERE status = 'pending'")
        strands = tx.scalar("SELECT count(*) FROM tr_strand")
    key = ("fill_id", "px", "qty", "ts_ms", "side", "fee")
    assert [tuple(f[k] for k in key) for f in live] == [
        tuple(f[k] for k in key) for f in sorted(nightly, key=lambda f: (f["ts_ms"], f["fill_id"]))]
    assert positions == {c: p.qty for c, p in eng.positions.items()}
    assert pending == 0 and strands > 0
    with open_opsdb(url, migrate=False) as fabric:
        out = read_outbox(fabric, "tr", limit=1000)
    assert out and {tuple(r.envelope["to"]) for r in out} <= {("dm", "sig"), ("dm",)}
    for r in out:
        validate_envelope(r.envelope)
    assert {r.envelope["lifecycle_id"] for r in out} <= {f"life-{d.ticket['decision_id']}"
                                                        for d in decs}


def test_a_loop_holding_its_steps_commits_the_same_day_in_fewer_commits(
        recorded, tmp_path: Path) -> None:  # noqa: ANN001
    """`commit_steps=False` (the lock-step replay's): the steps' writes wait for a checkpoint
    or the end, and the fabric ends as the committing loop leaves it: the nightly fills,
    every decision consumed once, its EXEC_REPORTs posted; the state is saved less often."""
    _, day, decs = recorded
    _, nightly = _nightly(day, decs)
    ends = {}
    for held in (False, True):
        url = sqlite_url(tmp_path / f"held{held}" / "fabric.sqlite")
        with open_opsdb(url) as fabric:
            kit.deliver(fabric, decs, Keyring(tmp_path / "keys").private_key("dm"))
        loop = _run_loop(url, tmp_path, kit.replay_source(day), commit_steps=not held)
        assert loop.stats["decisions"] == len(decs) and loop.stats["fills"] == len(nightly)
        with open_opsdb(url, migrate=False) as fabric, fabric.transaction() as tx:
            ends[held] = (
                [(f["fill_id"], f["px"], f["qty"], f["ts_ms"]) for f in read_fills(tx)],
                tx.query("SELECT status, count(*) AS n FROM tr_inbox GROUP BY status"),
                tx.scalar("SELECT count(*) FROM tr_outbox"),
                tx.scalar("SELECT count(*) FROM tr_strand"),
                tx.scalar("SELECT version FROM trader_state"))
    assert ends[True][:4] == ends[False][:4]
    assert ends[True][1] == [{"status": "processed", "n": len(decs)}]
    assert ends[True][4] < ends[False][4]


@pytest.mark.slow
def test_kill_9_restart_restores_and_never_fills_twice(recorded, tmp_path: Path) -> None:  # noqa: ANN001
    feed, day, decs = recorded
    _, nightly = _nightly(day, decs)
    url = f"sqlite:///{tmp_path / 'fabric.sqlite'}"
    with open_opsdb(url) as fabric:
        kit.deliver(fabric, decs, Keyring(tmp_path / "keys").private_key("dm"))
    cmd = [sys.executable, str(HERE / "trader_daemon_kit.py"), str(feed), url,
           str(tmp_path / "keys"), str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": f"{HERE}:{os.getcwd()}"}
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    n = 0
    while time.monotonic() < deadline:
        time.sleep(0.2)
        with open_opsdb(url, migrate=False) as fabric, fabric.transaction() as tx:
            n = tx.scalar("SELECT count(*) FROM trader_fills")
        if n >= 3:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert 3 <= n < len(nightly), "kill -9 must land mid-day"
    with open_opsdb(url, migrate=False) as fabric, fabric.transaction() as tx:
        open_orders = tx.scalar("SELECT count(*) FROM trader_orders WHERE status IN "
                                "('pending', 'working')")
        state_pos = tx.scalar("SELECT source_pos FROM trader_state")
    assert state_pos > 0
    loop = _run_loop(url, tmp_path, kit.replay_source(day))  # the restart, to the day's end
    assert loop.stats["restored"] == 1
    with open_opsdb(url, migrate=False) as fabric, fabric.transaction() as tx:
        live = read_fills(tx)
        dup = tx.scalar("SELECT count(*) - count(DISTINCT execution_id) FROM tr_strand")
        still_open = tx.scalar("SELECT count(*) FROM trader_orders WHERE status IN "
                               "('pending', 'working')")
    assert [f["fill_id"] for f in live] == sorted(
        [f["fill_id"] for f in nightly], key=lambda i: next(
            (f["ts_ms"], f["fill_id"]) for f in nightly if f["fill_id"] == i))
    assert sum(f["qty"] for f in live) == pytest.approx(sum(f["qty"] for f in nightly))
    assert dup == 0
    assert still_open <= open_orders + len(decs)


@pytest.fixture(scope="module")
def events(recorded):  # noqa: ANN001, ANN201
    return list(market_events(recorded[1]))


def test_one_driver_gives_the_same_outputs_on_the_replay_and_the_live_clock(
        recorded, events) -> None:  # noqa: ANN001
    """The recorded day's events through `drive` twice: the replay clock (`replay_day`:
    decision slots merged at their times, quiet coins' snapshots held back) and the live
    clock (`LiveColumns` one event at a time, decisions waiting in a `DecisionClock`, every
    event handed over, as the daemon runs). Every output equal, in order, the exec reports'
    vol_bps context included (the engine's volatility step sees every snapshot, held back
    or not: `TraderEngine.on_quote`)."""
    _, day, decs = recorded
    replayer = TraderEngine(kit.settings())
    replayed = replay_day(replayer, day, decs).outputs
    engine = TraderEngine(kit.settings())
    live, _ = drive_live(engine, events, decs)
    assert sum(o.kind == "fill" for o in replayed) > 10
    assert [o.data for o in live if o.kind == "fill"] == [
        o.data for o in replayed if o.kind == "fill"]
    assert [(o.kind, o.data) for o in live] == [(o.kind, o.data) for o in replayed]
    assert engine.snapshot()["positions"] == replayer.snapshot()["positions"]


def test_the_loop_on_the_market_hub_fills_as_the_replay(recorded, events, tmp_path: Path,  # noqa: ANN001
                                                        fabric_sqlite_url: str) -> None:
    """The daemon's configuration: the trader loop on the hub's `tr_event` source with the
    market clock (idle ticks move no time), the day's events published in batches as the
    score loop publishes them, with pauses; the same fills and positions as the replay."""
    _, day, decs = recorded
    eng, nightly = _nightly(day, decs)
    with open_opsdb(fabric_sqlite_url) as fabric:
        kit.deliver(fabric, decs, Keyring(tmp_path / "keys").private_key("dm"))
    hub = MarketHub()
    loop = TraderLoop(kit.settings(), source=HubTraderSource(hub, idle_sec=0.02),
                      market_clock=True, checkpoint_events=1000)
    stop = threading.Event()
    runner = threading.Thread(target=loop.run, args=(
        LoopContext(fabric_sqlite_url, tmp_path / "keys", tmp_path, stop),))
    runner.start()
    try:
        numbered = list(enumerate(events, start=1))
        for lo in range(0, len(numbered), 2000):
            hub.publish("tr_event", None, 0, numbered[lo:lo + 2000])
            if lo % 8000 == 0:
                time.sleep(0.05)  # idle ticks between batches
        deadline = time.monotonic() + 60
        while loop.stats["events"] < len(events) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        runner.join(30)
    assert loop.stats["events"] == len(events) and loop.stats["decisions"] == len(decs)
    with open_opsdb(fabric_sqlite_url, migrate=False) as fabric, fabric.transaction() as tx:
        live = read_fills(tx)
        positions = {r["coin"]: r["qty"] for r in read_positions(tx)}
    key = ("fill_id", "px", "qty", "ts_ms", "side", "fee")
    assert [tuple(f[k] for k in key) for f in live] == [
        tuple(f[k] for k in key) for f in sorted(nightly, key=lambda f: (f["ts_ms"], f["fill_id"]))]
    assert positions == {c: p.qty for c, p in eng.positions.items()}
