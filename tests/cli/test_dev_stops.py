"""`make dev` stops on SIGINT: make, its runner (scripts/dev_server.py), dg, the webserver, the
code servers and the Dagster daemon are all gone within 10 s.

The signal goes to make alone, as `kill -INT <make's pid>` sends it: GNU make does not pass
SIGINT on (it expects the terminal to have sent it to the whole group, and waits for its
children), so before the runner everything stayed up (30 s later: make, dg, the webserver, the
code server, its gRPC server and the daemon). A Ctrl-C in a terminal, SIGINT to the whole
group, was and is stopped the same way.

The run is the user's `make dev` on a free port, with LOTUS_HOME and DAGSTER_HOME in the
test's tmp_path; `-o <venv>/.installed` keeps make from reinstalling the venv the suite runs
in (setup reinstalls when pyproject.toml is newer than its stamp)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("make_dev")]

REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
UP_TIMEOUT_S = 240.0
STOP_WITHIN_S = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _procs() -> dict[int, tuple[int, int, str, str, str]]:
    """pid -> (ppid, pgid, state, start time, command line) of every process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out[int(name)] = (int(rest[1]), int(rest[2]), rest[0], rest[19], cmd)
    return out


def _tree(root: int) -> dict[int, tuple[int, int, str, str, str]]:
    """`root` and every process below it."""
    procs = _procs()
    kids: dict[int, list[int]] = {}
    for pid, (ppid, *_) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in procs and pid not in found:
            found[pid] = procs[pid]
            todo.extend(kids.get(pid, []))
    return found


def _left(started: dict[int, tuple], group: int) -> list[str]:
    """What is still alive: any process of make's group, and any process started below make
    (the same pid and start time), zombies aside."""
    now = _procs()
    return [f"{pid} {now[pid][4][:120]}" for pid in sorted(now)
            if now[pid][2] != "Z" and (now[pid][1] == group or (
                pid in started and now[pid][3] == started[pid][3]))]


def _up(port: int, proc: subprocess.Popen, log: Path) -> dict[int, tuple]:
    """Wait for the UI to answer and every part of `dg dev` to run; the tree then."""
    deadline = time.monotonic() + UP_TIMEOUT_S
    want = ("dg dev", "dagster_webserver", "dagster._daemon", "code-server")
    while True:
        assert proc.poll() is None, f"make dev exited ({proc.returncode}):\n" \
            + log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                pass
            tree = _tree(proc.pid)
            if all(any(w in c[4] for c in tree.values()) for w in want):
                return tree
        except OSError:
            pass
        assert time.monotonic() < deadline, "make dev did not come up:\n" \
            + log.read_text()[-3000:]
        time.sleep(1)


def _sigint_at_default() -> None:
    """make as a terminal starts it: a suite launched as a background job of a script
    (`cmd &` without job control) inherits SIGINT ignored, and a make started so ignores it
    for good (GNU make keeps an ignored SIGINT ignored), which is not what is judged here."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_make_dev_stops_everything_on_sigint_within_10_s(tmp_path):
    port = _free_port()
    env = {**os.environ, "LOTUS_HOME": str(tmp_path / "home"),
           "DAGSTER_HOME": str(tmp_path / "dagster")}
    for var in ("LOTUS_FEED_DIR", "LOTUS_CONFIG", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
        env.pop(var, None)
    log = tmp_path / "make_dev.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["make", "-o", str(VENV / ".installed"), "dev",
                                 f"VENV={VENV}", f"DEV_PORT={port}"],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_sigint_at_default)
    group = proc.pid  # make leads its own group
    started: dict[int, tuple] = {}
    try:
        started = _up(port, proc, log)
        started.update(_tree(proc.pid))
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)  # make alone
        left = _left(started, group)
        while left and time.monotonic() - t0 < STOP_WITHIN_S:
            time.sleep(0.2)
            left = _left(started, group)
        took = time.monotonic() - t0
        assert not left, (f"{len(left)} process(es) left {took:.1f} s after SIGINT:\n"
                          + "\n".join(left) + "\n" + log.read_text()[-2000:])
        assert proc.wait(timeout=5) != 0  # make reports the interrupt
        assert "dev_server: stopping dg dev (signal 2)" in log.read_text()
    finally:
        for pid, info in started.items():  # only what this test started, by pid
            now = _procs().get(pid)
            if now is not None and now[3] == info[3] and now[2] != "Z":
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
