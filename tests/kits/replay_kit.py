"""A recorded feed replayed at `--speed max` into daemon loops running in threads, until
the feed loop has read every frame the server sent (the loops then stop)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from lotus_daemon.loops import LoopContext
from lotus_replay.server import ReplayConfig, ReplayStats, ReplayThread
from tests.helpers import wait_for


def replay_max(src: Path, feed: Any, others: list[Any], fabric: str, home: Path,
               market: Any, start: str | None = None, end: str | None = None) -> ReplayStats:
    """Serve `src` (days `start`..`end`) at max speed to the FeedLoop `feed(url)` makes and
    run `others` beside it; the server's stats once the feed loop has read every frame and
    every loop has stopped."""
    with ReplayThread(ReplayConfig(src, start=start, end=end, speed=None)) as srv:
        loop = feed(srv.url)
        stop = threading.Event()
        threads = [threading.Thread(target=lp.run, args=(LoopContext(
            fabric, home / "keys", home, stop, market=market),)) for lp in (loop, *others)]
        for t in threads:
            t.start()
        try:
            assert srv.server.done.wait(120)
            wait_for(lambda: loop.info()["data_frames"] == srv.server.stats.frames_sent,
                     timeout=120.0, what="the client to read every frame")
        finally:
            stop.set()
            for t in threads:
                t.join(120)
        return srv.server.stats
