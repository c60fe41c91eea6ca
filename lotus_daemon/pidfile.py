"""The daemon's pid file, `<LOTUS_HOME>/daemon/daemon.pid`, and the lock that makes it true.

The running daemon holds an exclusive `flock` on the file for its whole life, so "is one
running?" is answered by the lock, not by trusting a pid that may be stale or reused: a
file left by a killed daemon is unlocked and the next start takes it over. The content
(JSON: pid, host, state, started_at, fabric, log) is for people and for `stop`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# pid_alive's home is lotus_core.processes; re-exported here for the daemon's callers
from lotus_core.processes import pid_alive as pid_alive


class AlreadyRunning(RuntimeError):
    """Another daemon holds the pid file's lock."""

    def __init__(self, path: Path, info: dict[str, Any]) -> None:
        pid = info.get("pid", "?")
        super().__init__(
            f"a Lotus daemon is already running (pid {pid}, started {info.get('started_at', '?')}"
            f", pid file {path}); stop it first with `lotus daemon stop`"
        )
        self.info = info


def daemon_dir(home: Path) -> Path:
    return Path(home) / "daemon"


def pid_path(home: Path) -> Path:
    return daemon_dir(home) / "daemon.pid"


def log_path(home: Path) -> Path:
    return daemon_dir(home) / "daemon.log"


def read_info(path: Path) -> dict[str, Any] | None:
    """The pid file's content, None when there is none (or it is being written)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def is_locked(path: Path) -> bool:
    """True while a live process holds the pid file's lock (a daemon runs)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return True
        raise
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@dataclass
class PidFile:
    """The held pid file of the running daemon (see `acquire`)."""

    path: Path
    fd: int
    info: dict[str, Any]
    stale: dict[str, Any] | None = None  # what a dead daemon had left there, if anything

    def update(self, **fields: Any) -> None:
        """Rewrite the content (same inode, lock kept)."""
        self.info.update(fields)
        data = json.dumps(self.info, sort_keys=True).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)
        os.fsync(self.fd)

    def release(self) -> None:
        """Remove the file, then drop the lock (in that order: no one can lock a file that
        is about to disappear and believe they run)."""
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                os.unlink(self.path)
        os.close(self.fd)


def acquire(home: Path, **fields: Any) -> PidFile:
    """Take the pid file for this process or raise AlreadyRunning. A file whose lock nobody
    holds was left by a dead daemon: it is taken over and reported in `.stale`."""
    path = pid_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise AlreadyRunning(path, read_info(path) or {}) from None
            raise
        try:  # the file we locked may have been unlinked by a daemon exiting meanwhile
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    stale = read_info(path)
    info = {"pid": os.getpid(), "host": socket.gethostname(), **fields}
    held = PidFile(path, fd, info, stale=stale if stale and stale.get("pid") else None)
    held.update()
    return held
