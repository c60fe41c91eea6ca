"""`lotus daemon status` from facts: a killed daemon's loops are not running and its beats
are dead; every loop shows its own last beat; an error the loop recovered from is history.
A detached start imports the installed lotus, not a shadow in the caller's directory. A
feed URL that cannot be a websocket endpoint is refused at start, naming it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from lotus_core.live.settings import check_ws_url
from lotus_core.store.opsdb import OpsDb
from lotus_daemon import host, pidfile
from lotus_daemon.control import start_detached
from lotus_daemon.control import stop as stop_daemon
from lotus_daemon.host import Daemon
from lotus_daemon.loops import Loop, LoopContext
from lotus_replay.server import ReplayConfig, ReplayThread
from tests.daemon.live_daemon_kit import loops, lotus, new_home, recording, status
from tests.helpers import wait_for


def test_a_killed_daemon_shows_loops_as_they_were_and_dead_beats(tmp_path, monkeypatch):
    home = new_home(tmp_path)
    recording(tmp_path / "src", minutes=2)
    shadow = tmp_path / "shadow" / "lotus_daemon"  # `python -m lotus_daemon` from here
    shadow.mkdir(parents=True)  # would import this one before the installed package
    (shadow / "__init__.py").write_text("raise SystemExit('imported the shadow lotus_daemon')\n")
    (shadow / "__main__.py").write_text("")
    monkeypatch.chdir(shadow.parent)
    with ReplayThread(ReplayConfig(tmp_path / "src", speed=2.0)) as srv:
        info = start_detached(home, ["--loops", "feed,router", "--url", srv.url, "--clock",
                                     "replay"], env={**os.environ, "LOTUS_HOME": str(home)})
        pid = info["pid"]
        try:
            wait_for(lambda: (loops(status(home))["feed"].get("messages") or 0) > 0,
                     what="the feed's first frames")
            alive = loops(status(home))
            for name in ("feed", "router", "heartbeat"):  # each with its own recent beat
                assert alive[name]["state"] == "running" or name == "heartbeat"
                assert alive[name]["heartbeat"]["status"] == "ok"
                assert alive[name]["heartbeat"]["age_s"] < 5, alive[name]
            assert alive["feed"]["heartbeat"]["source"] == "daemon detail"
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not pidfile.pid_alive(pid), what="the kill")
        finally:
            if pidfile.pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
    report = status(home)
    assert not report["running"] and report["health"] == "dead"
    dead = loops(report)
    assert dead["feed"]["state"] == "was running at crash"
    assert dead["router"]["state"] == "was running at crash"
    assert all(lp["heartbeat"]["status"] == "dead" for lp in dead.values())
    text = lotus(home, "daemon", "status")
    assert text.returncode == 3
    assert f"daemon stopped (stale pid file: pid {pid} is not running)" in text.stdout
    assert " ok " not in text.stdout and "running    " not in text.stdout
    assert "was running at crash" in text.stdout and "dead" in text.stdout


class _FailsOnce(Loop):
    """Fails on its first run (a feed whose venue answered 503), then works."""

    name = component = "once"

    def __init__(self) -> None:
        self.runs = 0

    def run(self, ctx: LoopContext) -> None:
        self.runs += 1
        if self.runs == 1:
            raise RuntimeError("InvalidStatus: server rejected WebSocket connection: HTTP 503")
        while not ctx.stopping():
            ctx.stop.wait(0.05)


def test_an_error_the_loop_recovered_from_leaves_last_error(fabric_sqlite_url, tmp_path,
                                                             monkeypatch):
    monkeypatch.setattr(host, "RECOVERED_AFTER_SEC", 0.5)
    monkeypatch.setattr(host, "BACKOFF_START_SEC", 0.1)
    OpsDb.open(fabric_sqlite_url).close()
    loop = _FailsOnce()
    daemon = Daemon(fabric_sqlite_url, tmp_path / "keys", tmp_path, [loop], heartbeat_sec=0.1)
    t = threading.Thread(target=daemon.serve)
    t.start()
    try:
        wait_for(lambda: loop.runs == 2, what="the restart")
        snap = daemon.snapshot()["loops"]["once"]
        assert "503" in snap["last_error"] and snap["recovered"] is None
        wait_for(lambda: daemon.snapshot()["loops"]["once"]["last_error"] is None,
                 timeout=10, what="the error to clear")
        snap = daemon.snapshot()["loops"]["once"]
        assert "503" in snap["recovered"]["error"] and snap["recovered"]["at"]
        assert snap["restarts"] == 1 and snap["state"] == "running" and snap["beat_at"]
    finally:
        daemon.request_stop()
        t.join(timeout=30)


@pytest.mark.parametrize("url, why", [
    ("ws://127.0.0.1:", "no port after ':'"),
    ("ws://exa mple.com:8765", "malformed host 'exa mple.com'"),
    ("ws://:8765", "no host"),
    ("ws://127.0.0.1:99999", "Port out of range"),
    ("http://127.0.0.1:8765", "ws:// or wss://"),
])
def test_a_url_that_cannot_be_a_websocket_endpoint_is_refused_naming_it(tmp_path, url, why):
    with pytest.raises(ValueError, match="is not a websocket endpoint") as err:
        check_ws_url(url)
    assert repr(url) in str(err.value) and why in str(err.value)
    home = new_home(tmp_path)
    flag = lotus(home, "daemon", "start", "--loops", "feed", "--url", url)
    assert flag.returncode == 2 and repr(url) in flag.stderr and why in flag.stderr
    config = tmp_path / "lotus.yaml"
    config.write_text(f"feed:\n  url: '{url}'\n")
    direct = subprocess.run([sys.executable, "-P", "-m", "lotus_daemon", "--home", str(home),
                             "--config", str(config), "--loops", "feed"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert direct.returncode == 1 and repr(url) in direct.stderr and why in direct.stderr
    assert not pidfile.pid_path(home).exists()


def test_good_urls_pass_and_start_help_lists_every_loop(tmp_path):
    for url in ("wss://api.hyperliquid.xyz/ws", "ws://127.0.0.1:8765", "ws://[::1]:8765",
                "ws://replay_server:8765", "ws://localhost"):
        assert check_ws_url(url) == url
    text = " ".join(lotus(new_home(tmp_path), "daemon", "start", "--help").stdout.split())
    for name in ("router", "feed", "score", "dm", "trader"):
        assert f"{name} (" in text, name


def test_stop_of_a_daemon_that_is_not_running_says_so(tmp_path):
    assert stop_daemon(new_home(tmp_path))["was_running"] is False
