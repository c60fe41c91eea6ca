"""The Signal Bus as a Dagster resource: a handle on `lotus bus serve`, never its host.

As with the daemon (lotus_resources/daemon.py): the long-running server stays outside
runs; the handle launches it detached, stops it with SIGTERM and reads its state from the
pid file and the fabric heartbeat (lotus_bus/status.py), which `bus_health_sensor` observes.
"""


import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

import dagster as dg

from lotus_bus.status import bus_state, log_path, read_pid
from lotus_core.fabric.defaults import STALE_AFTER_SEC
from lotus_daemon.pidfile import pid_alive

LOTUS_MAIN = "from lotus_cli.main import cli; cli()"  # `lotus` with this interpreter


def _reap(pid: int) -> None:
    """Collect `pid` if it is our exited child (else it lingers as a zombie that `alive` sees)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


class BusResource(dg.ConfigurableResource):
    """Handle on the Signal Bus of one LOTUS_HOME: launch, stop, state, health."""

    home: str
    fabric_url: str
    key_dir: str | None = None
    host: str = "127.0.0.1"
    port: int = 8766
    heartbeat_s: float = 5.0
    stale_after_sec: float = STALE_AFTER_SEC

    def command(self) -> list[str]:
        cmd = [sys.executable, "-c", LOTUS_MAIN, "bus", "serve", "--home", self.home,
               "--host", self.host,
               "--port", str(self.port), "--fabric-url", self.fabric_url,
               "--heartbeat", str(self.heartbeat_s)]
        return cmd + (["--key-dir", self.key_dir] if self.key_dir else [])

    def launch(self, *, timeout_sec: float = 60.0) -> dict[str, Any]:
        """Start `lotus bus serve` detached (it outlives the caller) and wait until it
        serves; RuntimeError if one already runs or it fails at start-up (its log's tail)."""
        info = read_pid(self.home)
        if info and pid_alive(int(info.get("pid") or 0)):
            raise RuntimeError(f"a Signal Bus already runs (pid {info['pid']}, {info.get('url')})")
        log = log_path(self.home)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout_sec
        while time.monotonic() < deadline:
            info = read_pid(self.home)
            if info and info.get("pid") == proc.pid:
                return {**info, "log": str(log)}
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:].strip()
                raise RuntimeError(f"lotus bus serve exited with {proc.returncode}: {tail}")
            time.sleep(0.05)
        proc.terminate()
        raise RuntimeError(f"lotus bus serve did not start within {timeout_sec:g} s (log {log})")

    def stop(self, *, timeout_sec: float = 30.0) -> dict[str, Any]:
        """SIGTERM it and wait for the exit; `was_running` says whether there was one."""
        info = read_pid(self.home) or {}
        pid = int(info.get("pid") or 0)
        if not pid or not pid_alive(pid):
            return {"was_running": False, "pid": pid or None}
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_sec
        while time.monotonic() < deadline:
            _reap(pid)
            if not pid_alive(pid):
                return {"was_running": True, "pid": pid}
            time.sleep(0.05)
        raise RuntimeError(f"the Signal Bus (pid {pid}) did not exit within {timeout_sec:g} s")

    def state(self) -> dict[str, Any]:
        """What `lotus bus status --json` says, read in this process (starts nothing)."""
        return bus_state(self.home, self.fabric_url, stale_after_sec=self.stale_after_sec)

    def health(self) -> str:
        """ok / stale / unknown, by the bus's heartbeat."""
        return str(self.state()["health"])
