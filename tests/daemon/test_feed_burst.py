"""A burst at live pace is handed to the scorer at once.

Many coins send their books at one instant: a socket read then holds more than the 32
frames that mark live pace (`_LIVE_DRAIN`). The feed loop used to keep such a read for the
next one, so a burst waited for the next frame to arrive or for the recording's flush (at
30 coins that was tick -> scored p99 50 ms, max 640 ms: `bench.live_coins`). Now a burst
after which the socket holds nothing more is handed out at once.

The real replay server at 1x serves rounds of a burst (60 trades at one receive time) and
one trade 200 ms later; the real feed loop reads them. No `batch` the feed loop hands out
may hold a round's burst together with the trade that followed it: that would mean the burst
waited for it. (The recording's flush, at most once a second, could also hand a burst out
in time; with five rounds that happening by chance every time is below 1 in 1,000.)"""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson

from lotus_core.config import load_settings
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import ensure_keys
from lotus_daemon.loops.feed import _LIVE_DRAIN
from lotus_daemon.market import MarketHub
from lotus_replay.server import ReplayConfig, ReplayThread
from tests.daemon.live_daemon_kit import feed_until_served

DAY = "2026-01-02"
T0 = 1_767_355_200_000
ROUNDS, BURST, AFTER_MS = 5, 60, 200


def _trade(recv: int, tid: int) -> bytes:
    return orjson.dumps({"recv_ts_ms": recv, "msg": {"channel": "trades", "data": [{
        "coin": "BTC", "side": "B" if tid % 2 else "A", "px": "100000.0", "sz": "0.01",
        "time": recv - 5, "hash": "0x" + f"{tid:064x}", "tid": tid,
        "users": ["0x" + "1" * 40, "0x" + "2" * 40]}]}})


def _recording(root: Path) -> Path:
    lines, tid = [], 1
    for k in range(ROUNDS):
        burst = T0 + 1_000 + k * 1_000
        for _ in range(BURST):
            lines.append(_trade(burst, tid))
            tid += 1
        lines.append(_trade(burst + AFTER_MS, tid))
        tid += 1
    path = root / f"{DAY}.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", mtime=0))
    return path


def test_a_burst_is_handed_out_without_waiting_for_the_next_frame(tmp_path: Path) -> None:
    assert BURST > _LIVE_DRAIN  # each burst is more than a live-pace read
    _recording(tmp_path / "src")
    home = (tmp_path / "home").resolve()
    ensure_keys(MODULES, home / "keys")
    settings = load_settings(overrides={"home": str(home)}, env={})
    settings = settings.model_copy(update={"feed": settings.feed.model_copy(
        update={"clock": "replay", "coins": ["BTC"], "channels": ["trades"]})})
    hub = MarketHub()
    batches = hub.subscribe({"batch"})
    with ReplayThread(ReplayConfig(tmp_path / "src", speed=1.0)) as srv:
        feed_until_served(settings, srv, hub, linger_s=1.5)
    handed = [[r["recv_ts_ms"] for r in map(orjson.loads, ev.data[2].lines())
               if isinstance(r["msg"], dict) and r["msg"].get("channel") == "trades"]
              for ev in batches.drain() if ev.data is not None]  # the greeting, acks: not
    seen = [t for b in handed for t in b]
    bursts = [T0 + 1_000 + k * 1_000 for k in range(ROUNDS)]
    for burst in bursts:  # everything arrived, once
        assert seen.count(burst) == BURST and seen.count(burst + AFTER_MS) == 1
    mixed = [burst for burst in bursts for b in handed
             if burst in b and burst + AFTER_MS in b]
    assert mixed == [], f"bursts handed out only with the frame after them: {mixed}"
