"""The daemon's feed and score loops against a replay server with faults on (in process,
real loopback sockets): drops, a stall and 1 % garbage never stop them; every drop is
followed by a resubscribe, the stalled coin is marked stale for the stall, garbage is
dead-lettered as raw_feed would, and what no fault touched equals the batch chain. A
priors version written mid-replay is picked up by the next scores."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lotus_core.config import load_settings
from lotus_core.curators.config import load_curators
from lotus_core.dsi import annotate
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import ensure_keys
from lotus_core.feed.parse import parse_recording
from lotus_core.live.engine import load_night_context
from lotus_core.live.store import LiveStore
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import score_day
from lotus_core.store.opsdb import OpsDb
from lotus_daemon.loops import LoopContext
from lotus_daemon.loops.feed import FeedLoop
from lotus_daemon.loops.score import ScoreLoop
from lotus_daemon.market import MarketHub
from lotus_replay.server import Faults, ReplayConfig, ReplayThread
from tests.helpers import small_day

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-01-03"
DROP_S, STALL_AT_S, STALL_FOR_S = 150.0, 40.0, 40.0


def test_faults_are_survived_and_unaffected_windows_equal_batch(tmp_path):
    src = tmp_path / "src"
    path = small_day(REPO / "fixtures" / f"{DAY}.jsonl.gz", src / f"{DAY}.jsonl.gz", 6)
    home = (tmp_path / "home").resolve()
    ensure_keys(MODULES, home / "keys")
    settings = load_settings(overrides={"home": str(home)}, env={})
    settings = settings.model_copy(update={"feed": settings.feed.model_copy(
        update={"clock": "replay"})})
    faults = Faults(drop_every_s=DROP_S, stall="ETH", stall_at_s=STALL_AT_S,
                    stall_for_s=STALL_FOR_S, garbage=0.01, refuse_for_s=0.2, seed=5)
    hub = MarketHub()
    stale_events = hub.subscribe({"stale"})
    with ReplayThread(ReplayConfig(src, speed=20.0, faults=faults)) as srv:
        feed, score = FeedLoop(settings.feed, url=srv.url, hub=hub), ScoreLoop(settings, hub)
        stop = threading.Event()
        threads = [threading.Thread(target=loop.run, args=(LoopContext(
            settings.fabric, home / "keys", home, stop, market=hub),)) for loop in (feed, score)]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 60
            while srv.server.stats.replay_ms is None or (
                    srv.server.stats.drops < 2 and time.monotonic() < deadline):
                time.sleep(0.1)
            with OpsDb.open(settings.fabric) as fabric, fabric.transaction() as tx:
                tx.executemany("INSERT INTO sig_priors (key, version, value, source_event_id)"
                               " VALUES (?, ?, ?, ?)", [
                                   ("patch/*/*/*/phi_mult", 9, 1.1, "active_priors:2026-01-02"),
                                   ("cap/phi_max", 9, 0.97, "active_priors:2026-01-02")])
            assert srv.server.done.wait(120)
            time.sleep(1.5)
        finally:
            stop.set()
            for t in threads:
                t.join(120)
    info = feed.info()
    assert all(not t.is_alive() for t in threads)
    drops = srv.server.stats.drops
    assert drops == 2 and info["reconnects"] >= drops and info["resubscribes"] >= drops
    assert srv.server.stats.garbage_sent > 0

    # the stalled coin was stale for the stall (and no other coin then)
    first_ms = int(parse_recording(path).books.meta["recv_ts_ms"].min())
    stall = (first_ms + STALL_AT_S * 1000, first_ms + (STALL_AT_S + STALL_FOR_S) * 1000)
    eth = [p for p in feed.stale_log if p.coin == "ETH"]
    assert eth and any(p.start_ms < stall[1] and p.end_ms >= stall[1] for p in eth)
    assert len(stale_events.drain()) >= 2 and not hub.stale_coins()

    # garbage was dead-lettered (source live:<url>) by raw_feed's own extraction code
    with OpsDb.open(settings.fabric) as fabric:
        dead = fabric.dead_letters(DAY)
    reasons = {d["reason"] for d in dead}
    assert reasons and reasons <= {"malformed_message", "unknown_channel", "malformed_l2Book",
                                   "malformed_trades", "malformed_json"}
    assert all(d["source"].startswith("live:ws://") for d in dead)
    assert any(d["reason"] == "malformed_json" and "not json at all" in d["raw"] for d in dead)

    # before the first drop, coins the stall did not touch equal the batch chain
    batch_feed = parse_recording(path)
    frames = build_microtape(batch_feed, MicroTapeParams())
    live = LiveStore(home / "live")
    rows = live.read("live_microtape", DAY)
    cut = first_ms + (DROP_S - 10) * 1000  # frames in flight at the drop are lost
    for coin in ("BTC", "SOL"):
        a = rows[(rows["coin"] == coin) & (rows["ts_ms"] < cut)].reset_index(drop=True)
        b = frames[(frames["coin"] == coin) & (frames["ts_ms"] < cut)].reset_index(drop=True)
        assert len(a) == len(b) > 100
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_categorical=False,
                                      rtol=1e-9)
    ctx = load_night_context(settings.lake_dir, DAY, scoring=load_scoring())
    ev = score_day(frames, DAY, fingerprint="sha256:" + "0" * 64, history=ctx.history,
                   dsi=annotate(frames, ctx.dsi_model).annotations, audit=ctx.audit,
                   evaluate=False, scoring=load_scoring(), council=load_curators()).events
    windows = live.read("live_signal_events", DAY)
    early = windows[windows["ts_ms"] < stall[0]].sort_values("window_id")
    want = ev[ev["ts_ms"] < stall[0]].sort_values("window_id")
    assert early["window_id"].tolist() == want["window_id"].tolist()
    np.testing.assert_allclose(early["det_sigma"], want["det_sigma"], rtol=1e-9)
    # nothing is published on a stale book; the version written mid-replay took over
    assert not windows.loc[windows["stale"], "posted"].any()
    assert score.info()["priors_reloads"] >= 1
    assert windows.sort_values("ts_ms")["priors_ver"].iloc[-1] == 9
