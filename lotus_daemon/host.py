"""The daemon process: hold the pid file, run the loops in threads, stop cleanly.

    python -m lotus_daemon [--home DIR] [--fabric-url URL] [--key-dir DIR]
                           [--loops feed,score,dm,trader,router]

SIGTERM or SIGINT asks every loop to stop; each finishes the work in hand (the router its
batch), then the heartbeat loop stops, a last `stopped` beat is written and the pid file
removed. Exit code 0 after a clean stop, 2 if another daemon already runs, 1 on a start-up
failure (an unreachable fabric, a bad setting), with the reason on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lotus_core.config import ConfigError, load_settings
from lotus_core.fabric.codec import utc_now
from lotus_core.fabric.connect import open_opsdb
from lotus_core.fabric.defaults import ROUTER_BATCH_SIZE
from lotus_core.fabric.heartbeats import beat
from lotus_core.fabric.names import ROUTER
from lotus_core.live.settings import check_ws_url
from lotus_core.store.url import mask_dsn
from lotus_daemon import pidfile
from lotus_daemon.loops import DEFAULT_LOOPS, LOOPS, Loop, LoopContext
from lotus_daemon.loops.heartbeat import COMPONENT, HeartbeatLoop
from lotus_daemon.market import MarketHub

log = logging.getLogger("lotus_daemon")

BACKOFF_START_SEC = 1.0
BACKOFF_MAX_SEC = 30.0
RECOVERED_AFTER_SEC = 5.0
"""A restarted loop that has come round for this long since its restart has recovered:
its error leaves `last_error` (kept as `recovered`, with the time)."""


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()


@dataclass
class _Slot:
    """One hosted loop: its thread, stop flag and what happened to it so far."""

    loop: Loop
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    ctx: LoopContext | None = None
    state: str = "starting"  # running, restarting, stopped, finished
    restarts: int = 0
    last_error: str | None = None
    failing: bool = False  # its last run ended in an exception (stopped while backing off)
    run_at: float = 0.0  # unix time its current run started
    recovered: dict[str, Any] | None = None  # the last error it recovered from, and when

    def snapshot(self) -> dict[str, Any]:
        """Its state and last beat (the loop's own figures first: a loop's `last_error`,
        e.g. the feed's last connection error, is shown unless the slot has its own)."""
        beat_at = None if self.ctx is None else self.ctx.beat_at
        if (self.last_error and self.state == "running" and beat_at is not None
                and beat_at - self.run_at >= RECOVERED_AFTER_SEC):
            self.recovered = {"error": self.last_error, "at": _iso(beat_at)}
            self.last_error, self.failing = None, False
        info = self.loop.info()
        return {**info, "component": self.loop.component, "state": self.state,
                "restarts": self.restarts, "beat_at": _iso(beat_at),
                "last_error": self.last_error or info.get("last_error"),
                "recovered": self.recovered or info.get("recovered")}


class Daemon:
    """Hosts `loops` plus the heartbeat loop against one fabric. `serve()` blocks until
    `request_stop()` (a signal handler calls it), then stops everything in order."""

    def __init__(self, fabric_url: str, key_dir: Path, home: Path, loops: Sequence[Loop], *,
                 migrate: bool = True, heartbeat_sec: float = 1.0,
                 market: MarketHub | None = None) -> None:
        self.fabric_url, self.key_dir, self.home = fabric_url, Path(key_dir), Path(home)
        self.market = market or MarketHub()
        self.migrate = migrate
        self.started_at = utc_now().isoformat()
        self.slots = [_Slot(loop) for loop in loops]
        self.heart = _Slot(HeartbeatLoop(self.snapshot, heartbeat_sec))
        self._shutdown = threading.Event()

    def snapshot(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "started_at": self.started_at, "home": str(self.home),
                "loops": {s.loop.name: s.snapshot() for s in self.slots}}

    def request_stop(self) -> None:
        self._shutdown.set()

    def serve(self, on_ready: Any = None) -> None:
        with open_opsdb(self.fabric_url, migrate=self.migrate) as fabric:  # fails fast
            beat(fabric, COMPONENT, ROUTER, "starting", self.snapshot())
            for slot in [*self.slots, self.heart]:  # the heart's first beat sees them running
                self._start(slot)
            log.info("daemon %s: running loops %s on %s", os.getpid(),
                     [s.loop.name for s in self.slots], mask_dsn(self.fabric_url))
            if on_ready is not None:
                on_ready()
            while not self._shutdown.wait(0.2):
                pass
            log.info("daemon %s: stopping", os.getpid())
            with contextlib.suppress(Exception):
                beat(fabric, COMPONENT, ROUTER, "stopping", self.snapshot())
            for slot in self.slots:
                slot.stop.set()
            for slot in [*self.slots, self.heart]:
                if slot is self.heart:
                    slot.stop.set()  # last: it beats while the others finish
                if slot.thread is not None:
                    slot.thread.join()
            self._last_beat(fabric)
            log.info("daemon %s: stopped", os.getpid())

    def _last_beat(self, fabric: Any) -> None:
        """`stopped` (or `error` if a loop was failing); a fresh connection if the long-idle
        one broke. Never fatal: the loops have already finished their work."""
        status = "error" if any(s.failing for s in self.slots) else "stopped"
        try:
            beat(fabric, COMPONENT, ROUTER, status, self.snapshot())
        except Exception:
            try:
                with open_opsdb(self.fabric_url, migrate=False) as fresh:
                    beat(fresh, COMPONENT, ROUTER, status, self.snapshot())
            except Exception:
                log.exception("daemon %s: could not write the last heartbeat", os.getpid())

    def _start(self, slot: _Slot) -> None:
        ctx = LoopContext(self.fabric_url, self.key_dir, self.home, slot.stop,
                          migrate=False, market=self.market)  # serve() migrated once
        slot.ctx = ctx
        slot.thread = threading.Thread(target=self._supervise, args=(slot, ctx),
                                       name=f"loop:{slot.loop.name}", daemon=True)
        slot.state = "running"  # before the thread runs, so no beat reports a started loop idle
        slot.thread.start()

    def _supervise(self, slot: _Slot, ctx: LoopContext) -> None:
        backoff = BACKOFF_START_SEC
        while not slot.stop.is_set():
            slot.state = "running"
            slot.run_at = time.time()
            t0 = time.monotonic()
            try:
                slot.loop.run(ctx)
            except Exception as exc:
                slot.failing = True
                slot.restarts += 1
                slot.last_error = f"{type(exc).__name__}: {exc}"[:500]
                if time.monotonic() - t0 > 2 * BACKOFF_MAX_SEC:
                    backoff = BACKOFF_START_SEC  # it ran well for a while: start afresh
                if backoff == BACKOFF_START_SEC:  # the first of a streak with its traceback
                    log.exception("loop %s failed; restarting in %.0f s", slot.loop.name,
                                  backoff)
                else:
                    log.warning("loop %s failed again (%s); restarting in %.0f s",
                                slot.loop.name, slot.last_error, backoff)
                slot.state = "restarting"
                if slot.stop.wait(backoff):
                    break
                backoff = min(2 * backoff, BACKOFF_MAX_SEC)
                continue
            slot.failing = False
            if not slot.stop.is_set():  # returned by itself: its work is done
                slot.state = "finished"
                return
        slot.state = "stopped"


def build_loops(names: Sequence[str], options: dict[str, Any]) -> list[Loop]:
    unknown = [n for n in names if n not in LOOPS]
    if unknown:
        raise ValueError(f"unknown daemon loop(s) {unknown}; known: {sorted(LOOPS)}")
    return [LOOPS[n](options) for n in names]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lotus_daemon", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, help="settings file (lotus.yaml)")
    ap.add_argument("--home", type=Path, help="LOTUS_HOME (pid file, log, keys)")
    ap.add_argument("--fabric-url", help="fabric URL (default: the settings' fabric)")
    ap.add_argument("--key-dir", type=Path, help="key directory (default <home>/keys)")
    ap.add_argument("--loops", default=",".join(DEFAULT_LOOPS),
                    help=f"comma-separated loops to run (known: {','.join(sorted(LOOPS))}; "
                    f"default: {','.join(DEFAULT_LOOPS)}, the live path)")
    ap.add_argument("--batch-size", type=int, default=ROUTER_BATCH_SIZE, help="router batch size")
    ap.add_argument("--heartbeat-sec", type=float, default=1.0)
    ap.add_argument("--url", help="feed websocket URL (default: the settings' feed.url)")
    ap.add_argument("--clock", choices=("wall", "replay"),
                    help="feed clock (default: the settings' feed.clock)")
    ap.add_argument("--no-migrate", action="store_true", help="connect without DDL")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        overrides = {k: v for k, v in {"home": args.home, "fabric_url": args.fabric_url}.items()
                     if v is not None}
        settings = load_settings(args.config, overrides=overrides)
        names = [n for n in args.loops.split(",") if n]
        if args.clock:
            settings = settings.model_copy(update={
                "feed": settings.feed.model_copy(update={"clock": args.clock})})
        if args.url:  # validated as feed.url in a config is (check_ws_url)
            settings = settings.model_copy(update={
                "feed": settings.feed.model_copy(update={"url": check_ws_url(args.url)})})
        market = MarketHub()
        loops = build_loops(names, {"batch_size": args.batch_size, "settings": settings,
                                    "url": args.url, "market": market})
    except (ConfigError, ValueError) as exc:
        print(f"lotus daemon: {exc}", file=sys.stderr)
        return 1
    home = settings.home.resolve()
    try:
        held = pidfile.acquire(home, state="starting", started_at=utc_now().isoformat(),
                               fabric=mask_dsn(settings.fabric), loops=names,
                               log=str(pidfile.log_path(home)))
    except pidfile.AlreadyRunning as exc:
        print(f"lotus daemon: {exc}", file=sys.stderr)
        return 2
    if held.stale:
        log.warning("took over a stale pid file (pid %s is not running)", held.stale.get("pid"))
    daemon = Daemon(settings.fabric, args.key_dir or home / "keys", home, loops,
                    migrate=not args.no_migrate, heartbeat_sec=args.heartbeat_sec,
                    market=market)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: daemon.request_stop())
    try:
        daemon.serve(on_ready=lambda: held.update(state="running"))
    except Exception as exc:
        log.exception("daemon failed")
        print(f"lotus daemon: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        held.release()
    return 0
