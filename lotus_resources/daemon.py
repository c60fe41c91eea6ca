"""The Lotus daemon as a Dagster resource: its HANDLE, not its host.

Dagster's guidance for streaming work: keep the long-running process outside runs and
give Dagster a handle to launch it, stop it and ask whether it is healthy. The handle
drives the `lotus daemon` CLI (which owns the pid file and its lock) in a subprocess, and
reads health from the daemon's heartbeat in the fabric; daemon_health_sensor observes it.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from lotus_core.fabric.codec import utc_now
from lotus_core.fabric.defaults import STALE_AFTER_SEC
from lotus_core.fabric.heartbeats import read_heartbeats
from lotus_core.fabric.status import health
from lotus_core.store.opsdb import OpsDb
from lotus_resources.router import LOTUS_MAIN

DAEMON_COMPONENT = "daemon"  # lotus_daemon/loops/heartbeat.py


class DaemonResource(dg.ConfigurableResource):
    """Handle on the `lotus daemon` of one LOTUS_HOME: launch, stop, status, health."""

    home: str
    fabric_url: str
    key_dir: str | None = None
    stale_after_sec: float = STALE_AFTER_SEC
    loops: str = "router"          # e.g. "feed,score,router" for the live path
    feed_url: str | None = None    # None: the settings' feed.url

    def command(self, verb: str, *extra: str, loops: str | None = None) -> list[str]:
        cmd = [sys.executable, "-c", LOTUS_MAIN, "daemon", verb, "--home", self.home, *extra]
        if verb in ("start", "status"):
            cmd += ["--fabric-url", self.fabric_url]
        if verb == "start" and self.key_dir:
            cmd += ["--key-dir", self.key_dir]
        if verb == "start":
            cmd += ["--loops", loops or self.loops]
            cmd += ["--url", self.feed_url] if self.feed_url else []
        return cmd

    def _run(self, verb: str, *extra: str, ok: tuple[int, ...] = (0,),
             loops: str | None = None) -> dict[str, Any]:
        proc = subprocess.run(self.command(verb, *extra, "--json", loops=loops),
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode not in ok:
            raise RuntimeError(f"lotus daemon {verb} failed ({proc.returncode}): "
                               f"{proc.stderr.strip() or proc.stdout.strip()}")
        return json.loads(proc.stdout)

    def launch(self, *, timeout_sec: float = 60.0, loops: str | None = None) -> dict[str, Any]:
        """Start the daemon detached (it outlives the caller); returns its pid file. `loops`
        overrides the resource's (a UI job asks for the live path). Raises RuntimeError if
        one already runs or it fails at start-up."""
        return self._run("start", "--timeout", str(timeout_sec), loops=loops)

    def stop(self, *, timeout_sec: float = 30.0) -> dict[str, Any]:
        """SIGTERM it and wait for the exit; `was_running` says whether there was one."""
        return self._run("stop", "--timeout", str(timeout_sec))

    def status(self) -> dict[str, Any]:
        """What `lotus daemon status --json` says: running, pid, each loop's heartbeat."""
        return self._run("status", "--stale-after", str(self.stale_after_sec), ok=(0, 3))

    def state(self) -> dict[str, Any]:
        """status(), read in this process (the pid file's lock and the heartbeats; it starts
        nothing): a sensor ticking every 30 s would otherwise start a Python each tick.
        `health` is ok / stale / stopped (a clean stop) / dead (no final beat) / unknown."""
        from lotus_daemon.control import status  # reads only; the CLI still owns the writes

        return status(Path(self.home), self.fabric_url, stale_after_sec=self.stale_after_sec)

    def heartbeat(self) -> dict[str, Any] | None:
        """The daemon's last heartbeat row, read straight from the fabric (cheap)."""
        with OpsDb.open(self.fabric_url) as fabric:
            beats = [b for b in read_heartbeats(fabric) if b.component == DAEMON_COMPONENT]
        if not beats:
            return None
        b = beats[0]
        return {"status": b.status, "pid": b.pid, "host": b.host, "age_s": b.age_s(),
                "detail": b.detail, "beat_at": b.beat_at.isoformat()}

    def health(self) -> str:
        """ok / stale / unknown, by the daemon's heartbeat (as `lotus status` judges)."""
        with OpsDb.open(self.fabric_url) as fabric:
            beats = [b for b in read_heartbeats(fabric) if b.component == DAEMON_COMPONENT]
        return health(beats, utc_now(), self.stale_after_sec)
