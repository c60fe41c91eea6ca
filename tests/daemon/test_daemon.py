"""The Lotus daemon (lotus_daemon): a real process hosting the router and its heartbeat,
started, inspected and stopped with `lotus daemon start|status|stop`, on SQLite and on
PostgreSQL. Envelopes posted while it runs reach every target inbox exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lotus_core.fabric.examples import example_envelope
from lotus_core.fabric.heartbeats import read_heartbeats
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import post_many_to_outbox
from lotus_core.fabric.router import pending_due
from lotus_core.fabric.signing import ensure_keys, sign
from lotus_core.store.opsdb import OpsDb
from lotus_daemon import pidfile
from lotus_daemon.host import Daemon
from lotus_daemon.loops import Loop, LoopContext
from lotus_resources.daemon import DaemonResource
from lotus_resources.router import LOTUS_MAIN
from tests.helpers import wait_for


def lotus(home: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOTUS_HOME": str(home)}
    return subprocess.run([sys.executable, "-c", LOTUS_MAIN, *args], env=env, cwd=home,
                          capture_output=True, text=True, timeout=timeout)


def post_mix(fabric: OpsDb, keys: Keyring, start: int, n: int) -> dict[str, set[str]]:
    """`n` signed envelopes over every route, plus a resend of each 5th one under a new
    event_id with the same dedupe_key; returns target -> event_ids it must hold once."""
    routes = [(s, i) for s in MODULES
              for i in sorted({x for ts in load_modules().map.may_tag.get(s, {}).values()
                               for x in ts})]
    per: dict[str, list[dict]] = {}
    expect: dict[str, set[str]] = {}
    for k in range(start, start + n):
        sender, intent = routes[k % len(routes)]
        env = sign(example_envelope(sender, intent, k, ttl_sec=3600, dedupe_key=f"d{k}"),
                   keys.private_key(sender))
        per.setdefault(sender, []).append(env)
        for t in env["to"]:
            expect.setdefault(t, set()).add(env["event_id"])
        if k % 5 == 0:  # the sender retried: a new event_id, the same dedupe_key
            again = sign(example_envelope(sender, intent, k, ttl_sec=3600, dedupe_key=f"d{k}"),
                         keys.private_key(sender))
            per[sender].append(again)
    for sender, envs in per.items():
        post_many_to_outbox(fabric, sender, envs, models_map=load_modules().map)
    return expect


def inbox_ids(fabric: OpsDb) -> dict[str, list[str]]:
    with fabric.transaction() as tx:
        return {m: [r["event_id"] for r in tx.query(f"SELECT event_id FROM {m}_inbox")]
                for m in MODULES}


def ledger_matches_inboxes(fabric: OpsDb) -> None:
    with fabric.transaction() as tx:
        for m in MODULES:
            inbox = {f"{m}_inbox:{r['event_id']}"
                     for r in tx.query(f"SELECT event_id FROM {m}_inbox")}
            ledger = {r["ledger_id"] for r in tx.query(
                "SELECT ledger_id FROM lotus_ledger WHERE ref_table = ?", (f"{m}_inbox",))}
            assert inbox == ledger, m


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def daemon_fabric(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    """(LOTUS_HOME with module keys, fabric URL) on each backend."""
    home = tmp_path / "home"
    ensure_keys(MODULES, home / "keys")
    url = request.getfixturevalue("fabric_sqlite_url" if request.param == "sqlite"
                                  else "fabric_pg_dsn")
    OpsDb.open(url).close()
    return home, url


def test_daemon_routes_each_envelope_once_reports_and_stops_cleanly(
    daemon_fabric: tuple[Path, str],
) -> None:
    home, url = daemon_fabric
    keys = Keyring(home / "keys")
    started = lotus(home, "daemon", "start", "--loops", "router", "--fabric-url", url)
    assert started.returncode == 0, started.stderr
    assert "daemon started: pid" in started.stdout
    info = pidfile.read_info(pidfile.pid_path(home))
    pid = info["pid"]
    try:
        with OpsDb.open(url) as fabric:
            expect = post_mix(fabric, keys, 0, 120)
            wait_for(lambda: pending_due(fabric) == 0, what="the daemon to drain the outboxes")

            st = lotus(home, "daemon", "status", "--fabric-url", url, "--json")
            assert st.returncode == 0, st.stderr
            report = json.loads(st.stdout)
            assert report["running"] and report["alive"] and report["pid"] == pid
            assert report["health"] == "ok" and report["heartbeat"]["pid"] == pid
            loops = {lp["name"]: lp for lp in report["loops"]}
            assert set(loops) == {"router", "heartbeat"}
            assert loops["router"]["state"] == "running" and loops["router"]["restarts"] == 0
            assert loops["router"]["heartbeat"]["status"] == "ok"
            assert loops["router"]["heartbeat"]["pid"] == pid
            assert loops["heartbeat"]["heartbeat"]["age_s"] < 30
            text = lotus(home, "daemon", "status", "--fabric-url", url)
            assert f"daemon running: pid {pid} (alive)" in text.stdout
            assert "herald" in text.stdout and "router" in text.stdout

            again = lotus(home, "daemon", "start", "--loops", "router", "--fabric-url", url)
            assert again.returncode != 0
            assert f"already running (pid {pid}" in again.stderr
            assert pidfile.read_info(pidfile.pid_path(home))["pid"] == pid  # untouched

            # More work, and a stop that lands while it is routing: it finishes its batch.
            expect2 = post_mix(fabric, keys, 1000, 1500)
            for t, ids in expect2.items():
                expect.setdefault(t, set()).update(ids)
            stopped = lotus(home, "daemon", "stop")
            assert stopped.returncode == 0, stopped.stderr
            assert f"daemon stopped (pid {pid}" in stopped.stdout
            assert not pidfile.pid_alive(pid) and not pidfile.pid_path(home).exists()
            # Every outbox row is all done or not started: processed ones are in their
            # inboxes, pending ones in none.
            got = inbox_ids(fabric)
            with fabric.transaction() as tx:
                for m in MODULES:
                    for r in tx.query(f"SELECT event_id, status, to_modules FROM {m}_outbox"):
                        tos = json.loads(r["to_modules"]) if isinstance(
                            r["to_modules"], str) else r["to_modules"]
                        there = [r["event_id"] in got[t] for t in tos]
                        assert all(there) or not any(there), r
            beats = {b.component: b for b in read_heartbeats(fabric)}
            assert beats["daemon"].status == "stopped" and beats["herald"].status == "stopped"

            st = lotus(home, "daemon", "status", "--fabric-url", url)
            assert st.returncode == 3 and "daemon stopped" in st.stdout

            # Started again, it routes the rest: every target holds each event exactly once.
            assert lotus(home, "daemon", "start", "--loops", "router",
                         "--fabric-url", url).returncode == 0
            wait_for(lambda: pending_due(fabric) == 0, what="the rest to be routed")
            assert lotus(home, "daemon", "stop").returncode == 0
            got = inbox_ids(fabric)
            for t in MODULES:
                assert len(got[t]) == len(set(got[t])), t
                assert set(got[t]) == expect.get(t, set()), t
            ledger_matches_inboxes(fabric)
    finally:
        info = pidfile.read_info(pidfile.pid_path(home))
        if info and pidfile.pid_alive(info["pid"]):
            os.kill(info["pid"], signal.SIGKILL)
    log = pidfile.log_path(home).read_text()
    assert "Traceback" not in log and log.count("stopped") >= 2


def test_a_stale_pid_file_is_reported_removed_and_taken_over(
    fabric_sqlite_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    ensure_keys(MODULES, home / "keys")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = pidfile.pid_path(home)
    path.parent.mkdir(parents=True)

    def leave_stale() -> None:
        path.write_text(json.dumps({"pid": dead.pid, "host": "x", "state": "running"}))

    leave_stale()
    st = lotus(home, "daemon", "status", "--fabric-url", fabric_sqlite_url)
    assert st.returncode == 3
    assert f"daemon stopped (stale pid file: pid {dead.pid} is not running)" in st.stdout
    out = lotus(home, "daemon", "stop")
    assert out.returncode == 0 and f"removed a stale pid file (pid {dead.pid})" in out.stdout
    assert not path.exists()

    leave_stale()
    out = lotus(home, "daemon", "start", "--loops", "router", "--fabric-url", fabric_sqlite_url)
    assert out.returncode == 0, out.stderr
    assert f"took over a stale pid file (pid {dead.pid}" in out.stderr
    pid = pidfile.read_info(path)["pid"]
    try:
        assert pid != dead.pid and pidfile.is_locked(path)
    finally:
        assert lotus(home, "daemon", "stop").returncode == 0
    assert not pidfile.pid_alive(pid)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_foreground_daemon_stops_on_signal(fabric_sqlite_url: str, tmp_path: Path,
                                           sig: signal.Signals) -> None:
    home = tmp_path / "home"
    ensure_keys(MODULES, home / "keys")
    env = {**os.environ, "LOTUS_HOME": str(home)}
    cmd = [sys.executable, "-c", LOTUS_MAIN, "daemon", "start", "--foreground",
           "--loops", "router",
           "--fabric-url", fabric_sqlite_url]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        path = pidfile.pid_path(home)
        wait_for(lambda: (pidfile.read_info(path) or {}).get("state") == "running",
                 what="the foreground daemon to run")
        assert pidfile.read_info(path)["pid"] == proc.pid
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in err.decode() and "Traceback" not in err.decode()
    assert not pidfile.pid_path(home).exists()


class _FlakyLoop(Loop):
    """Fails on its first run (as a loop whose database went away would), then works."""

    name = component = "flaky"

    def __init__(self) -> None:
        self.runs = 0

    def run(self, ctx: LoopContext) -> None:
        self.runs += 1
        if self.runs == 1:
            raise RuntimeError("the fabric went away")
        ctx.stop.wait()


def test_a_failing_loop_is_restarted_and_reported(fabric_sqlite_url: str, tmp_path: Path) -> None:
    OpsDb.open(fabric_sqlite_url).close()
    flaky = _FlakyLoop()
    daemon = Daemon(fabric_sqlite_url, tmp_path / "keys", tmp_path, [flaky], heartbeat_sec=0.1)
    t = threading.Thread(target=daemon.serve)
    t.start()
    try:
        wait_for(lambda: flaky.runs == 2, what="the loop's restart")
        snap = daemon.snapshot()["loops"]["flaky"]
        assert snap["restarts"] == 1 and snap["state"] == "running"
        assert snap["last_error"] == "RuntimeError: the fabric went away"
    finally:
        daemon.request_stop()
        t.join(timeout=30)
    assert not t.is_alive()
    with OpsDb.open(fabric_sqlite_url) as fabric:
        (b,) = [b for b in read_heartbeats(fabric) if b.component == "daemon"]
    assert b.status == "stopped" and b.detail["loops"]["flaky"]["state"] == "stopped"


class _BrokenLoop(Loop):
    name = component = "broken"

    def __init__(self) -> None:
        self.runs = 0

    def run(self, ctx: LoopContext) -> None:
        self.runs += 1
        raise RuntimeError("cannot start")


def test_a_daemon_stopped_while_a_loop_fails_says_error(fabric_sqlite_url: str,
                                                        tmp_path: Path) -> None:
    OpsDb.open(fabric_sqlite_url).close()
    broken = _BrokenLoop()
    daemon = Daemon(fabric_sqlite_url, tmp_path / "keys", tmp_path, [broken], heartbeat_sec=0.1)
    t = threading.Thread(target=daemon.serve)
    t.start()
    try:
        wait_for(lambda: broken.runs >= 1, what="the loop's first run")
    finally:
        daemon.request_stop()
        t.join(timeout=30)
    with OpsDb.open(fabric_sqlite_url) as fabric:
        (b,) = [b for b in read_heartbeats(fabric) if b.component == "daemon"]
    assert b.status == "error"
    assert b.detail["loops"]["broken"]["last_error"] == "RuntimeError: cannot start"


def test_daemon_resource_launches_reports_and_stops(fabric_sqlite_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    ensure_keys(MODULES, home / "keys")
    OpsDb.open(fabric_sqlite_url).close()
    handle = DaemonResource(home=str(home), fabric_url=fabric_sqlite_url)
    assert handle.health() == "unknown" and handle.status()["running"] is False
    info = handle.launch()
    try:
        wait_for(lambda: handle.health() == "ok", what="the daemon's first beat")
        assert handle.heartbeat()["pid"] == info["pid"]
        st = handle.status()
        assert st["running"] and st["pid"] == info["pid"]
        with pytest.raises(RuntimeError, match="already running"):
            handle.launch()
        out = handle.stop()
        assert out["was_running"] and out["pid"] == info["pid"]
    finally:
        if pidfile.pid_alive(info["pid"]):
            os.kill(info["pid"], signal.SIGKILL)
    assert handle.health() == "stale" and handle.heartbeat()["status"] == "stopped"
    assert handle.stop()["was_running"] is False


def test_lotus_daemon_never_imports_dagster() -> None:
    code = ("import sys, lotus_daemon.host, lotus_daemon.control, lotus_daemon.loops.router, "
            "lotus_daemon.loops.heartbeat; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'dagster'); "
            "assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
