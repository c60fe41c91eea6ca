"""Gap records written by the real feed loop against the real replay server (loopback,
`--drop-every`): every reconnect leaves a `disconnect` gap in the recording (an open record
at the drop, a closing one at the first frame after it, start < end), `raw_feed` parses the
recording without a dead letter for them, and the MicroTape built from it flags the rows
of each hole and its warm-up."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import orjson

from lotus_core.config import load_settings
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import ensure_keys
from lotus_core.feed.parse import parse_recording
from lotus_core.live.recorder import live_feed_dir
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_daemon.market import MarketHub
from lotus_replay.server import Faults, ReplayConfig, ReplayThread
from tests.daemon.live_daemon_kit import feed_until_served
from tests.helpers import small_day

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-01-03"
DROP_S = 50.0


def test_each_reconnect_records_a_gap_and_the_nightly_flags_it(tmp_path):
    src = tmp_path / "src"
    small_day(REPO / "fixtures" / f"{DAY}.jsonl.gz", src / f"{DAY}.jsonl.gz", 2.3)
    home = (tmp_path / "home").resolve()
    ensure_keys(MODULES, home / "keys")
    settings = load_settings(overrides={"home": str(home)}, env={})
    settings = settings.model_copy(update={"feed": settings.feed.model_copy(
        update={"clock": "replay"})})
    hub = MarketHub()
    faults = Faults(drop_every_s=DROP_S, refuse_for_s=0.2, seed=5)
    with ReplayThread(ReplayConfig(src, speed=25.0, faults=faults)) as srv:
        feed = feed_until_served(settings, srv, hub)
    drops = srv.server.stats.drops
    assert drops == 2 and feed.info()["reconnects"] >= drops  # a refused attempt counts too

    path = live_feed_dir(home) / f"{DAY}.jsonl.gz"
    records = [orjson.loads(x) for x in gzip.decompress(path.read_bytes()).splitlines()]
    gaps = [(r["recv_ts_ms"], r["msg"]["data"]) for r in records
            if isinstance(r["msg"], dict) and r["msg"].get("channel") == "lotusGap"]
    disconnects = [(t, d) for t, d in gaps if d["reason"] == "disconnect"]
    opened = [(t, d) for t, d in disconnects if d["end_ms"] is None]
    closed = [(t, d) for t, d in disconnects if d["end_ms"] is not None]
    assert all(d["coins"] is None for _, d in disconnects)
    assert len(opened) == len(closed) == drops  # one gap per reconnect
    for (t_open, o), (t_close, c) in zip(opened, closed, strict=True):
        assert o["start_ms"] == c["start_ms"] == t_open < c["end_ms"] == t_close
    # the books' stale limits (5 s) are shorter than a hole: stalls open once frames come
    # back, each for one coin, and close
    stalls = [(t, d) for t, d in gaps if d["reason"] == "stall"]
    assert all(len(d["coins"]) == 1 for _, d in stalls)
    assert sum(d["end_ms"] is None for _, d in stalls) == sum(
        d["end_ms"] is not None for _, d in stalls)
    # nothing recorded inside a hole: the next frame after the open record is the close's
    recv = [r["recv_ts_ms"] for r in records]
    for _, c in closed:
        assert not any(c["start_ms"] < t < c["end_ms"] for t in recv)

    feed_day = parse_recording(path)
    assert not [d for d in feed_day.dead if d.channel == "lotusGap"]
    assert len(feed_day.gaps) == feed_day.stats["gap_records"] == len(gaps)  # one coin each
    params = MicroTapeParams()
    tape = build_microtape(feed_day, params)
    first = {}  # (coin, reason, start) -> receive time of the gap's first record
    for t, d in gaps:
        for coin in d["coins"] or [""]:
            first.setdefault((coin, d["reason"], d["start_ms"]), t)
    for coin in ("BTC", "ETH", "SOL"):
        ts = tape.loc[tape["coin"] == coin, "ts_ms"].to_numpy()
        expect = np.zeros(len(ts), dtype=bool)
        for _, d in gaps:
            for c in d["coins"] or [""]:
                if d["end_ms"] is not None and c in ("", coin):
                    lo = max(d["start_ms"], first[(c, d["reason"], d["start_ms"])])
                    expect |= (ts >= lo) & (ts < d["end_ms"] + params.gap_warmup_ms)
        assert expect.any() and not expect.all()
        assert np.array_equal(tape.loc[tape["coin"] == coin, "gap"].to_numpy(), expect), coin
