"""`make dev`'s runner: `dg dev` (the Dagster UI, its code servers and the Dagster daemon) that
stops, with every process it started, on SIGINT, SIGTERM or SIGHUP.

    .venv/bin/python scripts/dev_server.py --host 127.0.0.1 --port 3000   # args go to `dg dev`

Why not `dg dev` straight from the recipe: GNU make passes SIGTERM on to its child but not
SIGINT (it expects the terminal to have sent SIGINT to the whole group, and meanwhile waits
for its children), so a SIGINT sent to make alone left make, dg, the webserver, the code
servers and the Dagster daemon running; and dg's own shutdown can take ~10 s on a busy
machine.

What it does: starts `dg dev` in a process group of its own, SIGINT and SIGTERM at their
defaults whatever this process inherited (a job started with `&` by a script inherits SIGINT
ignored), and stopping when it dies (PR_SET_PDEATHSIG). On SIGINT, SIGTERM or SIGHUP (sent to
this process, to its group, as a terminal's Ctrl-C does, or to make alone: make's handler for
it goes back to the default while make dies, which /proc shows) it sends SIGINT to dg's group
(dg then stops the webserver, the daemon and the code servers), waits up to GRACE_S seconds,
sends SIGKILL to whatever is left of that group and of the processes dg started (listed from
/proc, in case one left the group), and exits 128 + the signal's number. If dg exits first,
so does this, with dg's code.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

GRACE_S = float(os.environ.get("LOTUS_DEV_GRACE_S", "6"))
"""How long dg gets to stop what it started after its SIGINT before the rest is killed."""
POLL_S = 0.2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1


def _status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return {}


def _caught(pid: int) -> int:
    """The signals `pid` has a handler for (a bit per signal), 0 when /proc cannot say."""
    return int(_status(pid).get("SigCgt", "0"), 16)


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc (empty where there is no /proc)."""
    out: dict[int, list[int]] = {}
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if name.isdigit():
            ppid = _status(int(name)).get("PPid")
            if ppid is not None:
                out.setdefault(int(ppid), []).append(int(name))
    return out


def _started_at(pid: int) -> str | None:
    """The process's start time (clock ticks since boot): a pid with it is the same process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _descendants(root: int) -> dict[int, str | None]:
    """Every process below `root`, with its start time."""
    kids, todo, seen = _children(), [root], {}
    while todo:
        for child in kids.get(todo.pop(), []):
            if child not in seen:
                seen[child] = _started_at(child)
                todo.append(child)
    return seen


def _die_with_parent() -> None:
    """In the child before exec: its own process group, SIGINT and SIGTERM at their defaults,
    and SIGINT when this runner dies (so dg stops what it started)."""
    os.setpgid(0, 0)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):  # not Linux: a signal to the
        # runner still stops dg; only the runner's own death goes unseen
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGINT))


class Runner:
    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.stop_signal: int | None = None
        self.parent = os.getppid()
        self.parent_caught = _caught(self.parent)  # make's handlers, before anything happens

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum

    def _parent_stopping(self) -> int | None:
        """The stop signal make is dying of (its handler reset to the default), or SIGHUP
        when make is gone."""
        if os.getppid() != self.parent:
            return int(signal.SIGHUP)
        now = _caught(self.parent)
        for sig in STOP_SIGNALS:
            bit = 1 << (int(sig) - 1)
            if self.parent_caught & bit and not now & bit:
                return int(sig)
        return None

    def run(self) -> int:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        dg = Path(sys.executable).parent / "dg"
        proc = subprocess.Popen([str(dg), "dev", *self.argv], preexec_fn=_die_with_parent)
        while proc.poll() is None and self.stop_signal is None:
            self.stop_signal = self._parent_stopping()
            if self.stop_signal is None:
                time.sleep(POLL_S)
        if self.stop_signal is None:
            return int(proc.returncode)
        self._stop(proc)
        return 128 + self.stop_signal

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        started = _descendants(proc.pid)
        print(f"dev_server: stopping dg dev (signal {self.stop_signal}), up to {GRACE_S:g} s",
              file=sys.stderr, flush=True)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        deadline = time.monotonic() + GRACE_S
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(POLL_S)
        started.update(_descendants(proc.pid))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # what dg did not stop in time
        for pid, at in started.items():
            if at is not None and _started_at(pid) == at:  # still that process
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


if __name__ == "__main__":
    sys.exit(Runner(sys.argv[1:]).run())
