"""Start, stop and inspect the daemon from another process (the CLI uses these).

The pid file's lock says whether a daemon runs; its heartbeats in the fabric say whether
it is healthy and what each loop last did.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from lotus_core.fabric.codec import utc_now
from lotus_core.fabric.defaults import STALE_AFTER_SEC
from lotus_core.fabric.heartbeats import read_heartbeats
from lotus_core.fabric.status import health
from lotus_core.store.opsdb import OpsDb
from lotus_daemon import pidfile
from lotus_daemon.loops.heartbeat import COMPONENT

LOCK_RELEASE_WAIT_SEC = 10.0  # how long a dead daemon's threads may take to let go


class DaemonError(RuntimeError):
    """A start or stop that did not happen; the message says why."""


def daemon_command(args: Sequence[str] = ()) -> list[str]:
    """`-P`: the daemon imports the installed lotus, never a `lotus_*` directory that
    happens to be in the caller's working directory (`python -m` would put it first)."""
    return [sys.executable, "-P", "-m", "lotus_daemon", *args]


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def check_not_running(home: Path) -> dict[str, Any] | None:
    """Raise DaemonError if a daemon runs; return a dead daemon's stale pid file, if any."""
    path = pidfile.pid_path(home)
    info = pidfile.read_info(path)
    # A daemon killed with SIGKILL holds its lock until its last thread has exited, which
    # can trail the main thread's death (already a zombie) by a moment: wait for that.
    deadline = time.monotonic() + LOCK_RELEASE_WAIT_SEC
    while pidfile.is_locked(path):
        pid = int((info or {}).get("pid") or 0)
        if pid and not pidfile.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
            continue
        raise DaemonError(str(pidfile.AlreadyRunning(path, info or {})))
    return info


def start_detached(home: Path, args: Sequence[str] = (), *, timeout_sec: float = 60.0,
                   env: dict[str, str] | None = None) -> dict[str, Any]:
    """Launch the daemon in its own session (it outlives this process), output appended to
    `<home>/daemon/daemon.log`; return its pid file once it says `running`."""
    home = Path(home).resolve()
    stale = check_not_running(home)
    log = pidfile.log_path(home)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(daemon_command(["--home", str(home), *args]), stdout=out,
                                stderr=out, stdin=subprocess.DEVNULL, env=env,
                                cwd=log.parent, start_new_session=True)
    deadline = time.monotonic() + timeout_sec
    path = pidfile.pid_path(home)
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise DaemonError(f"the daemon exited at start-up (code {code}); {log}:\n"
                              f"{_log_tail(log)}")
        info = pidfile.read_info(path)
        if info and info.get("pid") == proc.pid and info.get("state") == "running":
            info["stale_pid_file"] = stale
            return info
        time.sleep(0.1)
    raise DaemonError(f"the daemon (pid {proc.pid}) did not report running within "
                      f"{timeout_sec:.0f} s; see {log}")


def stop(home: Path, *, timeout_sec: float = 30.0) -> dict[str, Any]:
    """SIGTERM the running daemon and wait until it has exited. A stale pid file (its
    process is gone) is removed. Raises DaemonError if it is still running at the end."""
    path = pidfile.pid_path(Path(home))
    info = pidfile.read_info(path) or {}
    if not pidfile.is_locked(path):
        stale = path.exists()
        if stale:
            path.unlink(missing_ok=True)
        return {"was_running": False, "stopped": True, "pid": info.get("pid"),
                "stale_pid_file_removed": stale}
    pid = info.get("pid")
    if not isinstance(pid, int) or info.get("host") not in (None, socket.gethostname()):
        raise DaemonError(f"the daemon of {path} runs on {info.get('host')!r}, not here")
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    while time.monotonic() - t0 < timeout_sec:
        if not pidfile.is_locked(path) and not pidfile.pid_alive(pid):
            return {"was_running": True, "stopped": True, "pid": pid,
                    "seconds": round(time.monotonic() - t0, 3)}
        time.sleep(0.05)
    raise DaemonError(f"the daemon (pid {pid}) is still running {timeout_sec:.0f} s after "
                      f"SIGTERM; see {pidfile.log_path(Path(home))} (kill -9 {pid} ends it)")


def status(home: Path, fabric_url: str | None, *,
           stale_after_sec: float = STALE_AFTER_SEC) -> dict[str, Any]:
    """Is it running (pid file lock + pid), and its and each loop's last heartbeat."""
    home = Path(home)
    path = pidfile.pid_path(home)
    info = pidfile.read_info(path)
    running = pidfile.is_locked(path)
    pid = (info or {}).get("pid")
    out: dict[str, Any] = {
        "running": running,
        "pid": pid if running else None,
        "alive": bool(running and isinstance(pid, int) and pidfile.pid_alive(pid)),
        "state": (info or {}).get("state") if running else "stopped",
        "started_at": (info or {}).get("started_at") if running else None,
        "pid_file": str(path),
        "stale_pid_file": None if running or not info else {"pid": pid},
        "log": str(pidfile.log_path(home)),
        "health": "unknown",
        "heartbeat": None,
        "loops": [],
    }
    if fabric_url is None:
        return out
    try:
        with OpsDb.open(fabric_url) as fabric:
            beats = {b.component: b for b in read_heartbeats(fabric)}
    except Exception as exc:  # status still answers from the pid file
        out["fabric_error"] = f"{type(exc).__name__}: {exc}"
        return out
    now = utc_now()
    mine = beats.get(COMPONENT)
    if mine is None:
        return out
    out["heartbeat"] = _beat(mine, now)
    alive = out["alive"]
    crashed = not alive and mine.status not in ("stopped", "error")  # no last beat written
    if alive:
        out["health"] = health([mine], now, stale_after_sec)
    else:  # its beats are history: say so, never that they are current
        out["health"] = "dead" if crashed else "stopped"
    rows = [out["heartbeat"]]
    for name, loop in sorted(((mine.detail or {}).get("loops") or {}).items()):
        b = beats.get(loop.get("component", ""))
        row = _beat(b, now) if b else _detail_beat(loop, mine, now)
        rows.append(row)
        out["loops"].append({"name": name, **loop, "heartbeat": row,
                             "state": _state(loop.get("state", "?"), alive, crashed)})
    beating = "running" if mine.status in ("ok", "starting", "degraded") else mine.status
    out["loops"].append({"name": "heartbeat", "component": COMPONENT,
                         "state": mine.status if alive else _state(beating, alive, crashed),
                         "heartbeat": out["heartbeat"]})
    if not alive:  # the daemon's own row keeps a clean stop's `stopped` / `error`
        for row in rows[1:]:
            if row is not None:
                row["status"] = "dead" if crashed else "stopped"
        if crashed:
            out["heartbeat"]["status"] = "dead"
    return out


def _state(state: str, alive: bool, crashed: bool) -> str:
    """A loop's last reported state, said as the past it is once the daemon is gone."""
    if alive:
        return state
    if crashed:
        return f"was {state} at crash"
    return "stopped" if state in ("running", "ok", "stopping", "starting") else state


def _beat(b: Any, now: Any) -> dict[str, Any]:
    return {"status": b.status, "pid": b.pid, "host": b.host, "beat_at": b.beat_at.isoformat(),
            "age_s": round(b.age_s(now), 3)}


def _detail_beat(loop: dict[str, Any], daemon_beat: Any, now: Any) -> dict[str, Any] | None:
    """A loop without a heartbeat row of its own: its last turn, as the daemon's heartbeat
    detail reported it (`beat_at`, from `LoopContext.stopping()`)."""
    at = loop.get("beat_at")
    if not at:
        return None
    when = datetime.fromisoformat(at)
    return {"status": "ok", "pid": daemon_beat.pid, "host": daemon_beat.host, "beat_at": at,
            "age_s": round((now - when).total_seconds(), 3), "source": "daemon detail"}
