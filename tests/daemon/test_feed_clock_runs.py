"""A `--speed max` replay sends its clock as runs (one replayClock frame listing the
receive times of the frames behind it, lotus_core/venues/hyperliquid/wire.py), and the feed
loop still records every frame it subscribed to at its own recorded receive time: the daemon's
recording is the source's, line for line, on a real capture (book, bbo and trades only)
and on a generated day with every channel."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from lotus_core.config import load_settings
from lotus_core.feed.gzlines import open_lines
from lotus_core.live.recorder import live_feed_dir
from lotus_core.venues.hyperliquid.wire import normalise, route, split_record
from lotus_daemon.loops.feed import FeedLoop, subscriptions
from lotus_daemon.market import MarketHub
from tests.helpers import REAL_RECORDING, small_day
from tests.kits.replay_kit import replay_max

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-01-02"


def _records(path: Path, keys: set | None = None) -> list[tuple[int, str]]:
    """(recv_ts_ms, message text) of a recording's data frames (those routing to `keys`)."""
    reader, _ = open_lines(path)
    out = []
    with reader:
        for line in reader:
            rec = split_record(line)
            if rec is None or not rec[1].startswith("{"):
                continue
            key = route(orjson.loads(rec[1]))
            if key is not None and (keys is None or key in keys):
                out.append(rec)
    return out


@pytest.mark.parametrize("source", ["real", "generated"])
def test_a_max_speed_replay_is_recorded_at_every_frames_own_time(tmp_path: Path, source: str):
    src = tmp_path / "src"
    src.mkdir()
    if source == "real":
        day = REAL_RECORDING.name.split(".")[0]
        (src / REAL_RECORDING.name).write_bytes(REAL_RECORDING.read_bytes())
    else:
        day = DAY
        small_day(REPO / "fixtures" / f"{DAY}.jsonl.gz", src / f"{DAY}.jsonl.gz", 4)
    home = tmp_path / "home"
    settings = load_settings(overrides={"home": str(home)}, env={})
    cfg = settings.feed.model_copy(update={"clock": "replay"})
    keys = {normalise(s)[0] for s in subscriptions(cfg)}
    hub = MarketHub()
    stats = replay_max(src, lambda url: FeedLoop(cfg, url=url, hub=hub), [], settings.fabric,
                       home, hub)
    want = _records(src / f"{day}.jsonl.gz", keys)
    times = len({t for t, _ in want})
    assert len(want) == stats.frames_sent and times > (40 if source == "real" else 1000)
    # runs, not a clock frame per new receive time (a run of 256 frames: one)
    assert 0 < stats.clock_frames <= stats.frames_sent // 256 + 1 < times
    assert _records(live_feed_dir(home) / f"{day}.jsonl.gz") == want
