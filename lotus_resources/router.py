"""The Herald router and the modules' keys as Dagster resources.

The router is a long-running process (`lotus router run`), not something a run hosts: like
Dagster's own guidance for streaming processes, the resource is the process's HANDLE —
it can launch it, stop it and tell whether it is alive (from its heartbeat in the fabric),
and sensors observe it. The `herald_route` job is the other way to route: it drains the
outboxes inside a run (lotus_sensors/herald.py).
"""


import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg

from lotus_core.fabric.codec import utc_now
from lotus_core.fabric.defaults import ROUTER_NAME, STALE_AFTER_SEC
from lotus_core.fabric.heartbeats import Heartbeat, read_heartbeats
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import ModelsMap, load_modules
from lotus_core.fabric.status import health
from lotus_core.store.opsdb import OpsDb
from lotus_daemon.pidfile import pid_alive

LOTUS_MAIN = "from lotus_cli.main import cli; cli()"  # `lotus` with this interpreter


class FabricKeysResource(dg.ConfigurableResource):
    """The key directory: modules sign their envelopes and the router verifies with it; and
    the models map those envelopes are addressed and route-checked by."""

    key_dir: str

    def keyring(self) -> Keyring:
        return Keyring(self.key_dir)

    def models_map(self) -> ModelsMap:
        """models.map.yaml of the packaged manifests (`load_modules`, cross-checked, loaded
        once per process): what an asset or op that posts to an outbox passes down."""
        return load_modules().map


class HeraldRouterResource(dg.ConfigurableResource):
    """Handle on the `lotus router run` process: launch, stop, health."""

    fabric_url: str
    key_dir: str
    name: str = ROUTER_NAME
    stale_after_sec: float = STALE_AFTER_SEC

    def command(self, *, seconds: float | None = None, until_idle: bool = False) -> list[str]:
        cmd = [sys.executable, "-c", LOTUS_MAIN, "router", "run", "--name", self.name,
               "--key-dir", self.key_dir, "--fabric-url", self.fabric_url]
        if seconds is not None:
            cmd += ["--seconds", str(seconds)]
        if until_idle:
            cmd.append("--until-idle")
        return cmd

    def launch(self, *, seconds: float | None = None, log_path: str | None = None) -> int:
        """Start a detached router process (its own session: it outlives the caller);
        returns its pid. Output goes to `log_path` (default: discarded)."""
        out: Any = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen(self.command(seconds=seconds), stdout=out, stderr=out,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            if log_path:
                out.close()
        return proc.pid

    def _beats(self) -> list[Heartbeat]:
        with OpsDb.open(self.fabric_url) as fabric:
            return [b for b in read_heartbeats(fabric) if b.component == self.name]

    def heartbeat(self) -> dict[str, Any] | None:
        """The router's last heartbeat row (None before its first beat)."""
        beats = self._beats()
        if not beats:
            return None
        b = beats[0]
        return {"status": b.status, "pid": b.pid, "host": b.host, "age_s": b.age_s(),
                "detail": b.detail, "beat_at": b.beat_at.isoformat()}

    def health(self) -> str:
        """ok / stale / unknown, as `lotus status` says it."""
        return health(self._beats(), utc_now(), self.stale_after_sec)

    def stop(self, *, timeout_sec: float = 10.0) -> bool:
        """SIGTERM the router named by the heartbeat (only on this host); True once its
        process is gone (it beats "stopped" on the way out)."""
        beat = self.heartbeat()
        if beat is None or beat["host"] != socket.gethostname() or not beat["pid"]:
            return False
        pid = int(beat["pid"])
        if not pid_alive(pid):
            return True
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_sec
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return True
            time.sleep(0.1)
        return False


def default_key_dir(home: Path) -> str:
    return str((home / "keys").resolve())
