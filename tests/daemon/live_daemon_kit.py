"""The real daemon (default two-process score loop) against the real replay server on
loopback, driven through the `lotus` CLI: shared by the fault and status tests."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import ensure_keys
from lotus_core.venues.hyperliquid.wire import route
from lotus_daemon import pidfile
from lotus_resources.router import LOTUS_MAIN
from tests.helpers import small_day

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-01-03"
T0_MS = 1_767_441_600_000  # the fixture day's first frame
_PERIOD = re.compile(r"feed: (\w+) stale from (\d+) to (\d+)")


def recording(out_dir: Path, minutes: float = 3, keep: Any = None) -> Path:
    """The fixture day's first `minutes`, optionally only the data frames `keep(key)`
    accepts (`route`'s key), as a recording in `out_dir`."""
    path = small_day(REPO / "fixtures" / f"{DAY}.jsonl.gz", out_dir / f"{DAY}.jsonl.gz", minutes)
    if keep is not None:
        lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
        kept = [x for x in lines if (k := route(orjson.loads(x)["msg"])) is None or keep(k)]
        path.write_bytes(gzip.compress(b"".join(kept), mtime=0))
    return path


def new_home(tmp_path: Path) -> Path:
    home = (tmp_path / "home").resolve()
    ensure_keys(MODULES, home / "keys")
    return home


def lotus(home: Path, *args: str, cwd: Path | None = None,
          timeout: float = 90) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOTUS_HOME": str(home)}
    return subprocess.run([sys.executable, "-c", LOTUS_MAIN, *args], env=env,
                          cwd=cwd or home, capture_output=True, text=True, timeout=timeout)


def status(home: Path) -> dict[str, Any]:
    out = lotus(home, "daemon", "status", "--json")
    assert out.returncode in (0, 3), out.stderr
    return json.loads(out.stdout)


def loops(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lp["name"]: lp for lp in report["loops"]}


def daemon_log(home: Path) -> str:
    return pidfile.log_path(home).read_text()


def stale_periods(log: str) -> list[tuple[str, int, int]]:
    """The closed stale periods the feed loop logged: (coin, start_ms, end_ms)."""
    return [(c, int(a), int(b)) for c, a, b in _PERIOD.findall(log)]


def windows(home: Path) -> pd.DataFrame:
    return pd.read_parquet(home / "live" / "live_signal_events")


def feed_until_served(settings: Any, srv: Any, hub: Any, linger_s: float = 1.0) -> Any:
    """The real feed loop (in a thread, as the daemon runs it) reading `srv` (a running
    `ReplayThread`) until the server has sent everything and `linger_s` more; stopped
    cleanly. Returns the loop (its `info()`, its recording under the settings' home)."""
    import threading
    import time

    from lotus_daemon.loops import LoopContext
    from lotus_daemon.loops.feed import FeedLoop

    home = settings.home
    feed = FeedLoop(settings.feed, url=srv.url, hub=hub)
    stop = threading.Event()
    thread = threading.Thread(target=feed.run, args=(LoopContext(
        settings.fabric, home / "keys", home, stop, market=hub),))
    thread.start()
    try:
        assert srv.server.done.wait(60)
        time.sleep(linger_s)
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    return feed
