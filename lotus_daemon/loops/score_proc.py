"""The score loop in a process of its own, so that the feed loop and the scorer each get a
core (in one interpreter they share one: the GIL).

`ScoreProcess` is the loop the daemon hosts (name `score`). It subscribes to the hub's
`batch` and `stale` events exactly as `ScoreLoop` does and forwards them, in order, to a
child process (spawned, not forked: the daemon is threaded) that runs the very `ScoreLoop`
over a `PipeHub`. What the child publishes (`row`, `window`, `tr_event`) comes back and is
published on the daemon's hub, so the `dm` and `tr` loops, `hub.latest` and
`lotus daemon status` see the same events and figures as with the loop in a thread.

The child dies with the daemon: it asks the kernel for SIGKILL when its parent thread dies
(PR_SET_PDEATHSIG) and also exits when the pipe from the parent closes, so a `kill -9` of
the daemon leaves no scorer behind that could store or post after a restart.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import logging
import multiprocessing as mp
import os
import signal
import termios
import threading
import time
import traceback
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

import numpy as np

from lotus_core.config import Settings
from lotus_core.feed.extract import Chunk
from lotus_daemon.loops.base import Loop, LoopContext
from lotus_daemon.loops.score_info import IDLE_INFO
from lotus_daemon.market import KINDS, MarketEvent, MarketHub, batch_lines

_PUBLISHED = ("row", "window", "tr_event")  # what the child's ScoreLoop publishes
_INFO_EVERY_S = 0.5
_JOIN_S = 60.0  # after the child said it is done
_HELD_LINES = 10_000  # lines the child reads ahead of its scorer (one max-speed batch)
_DIRECT_LINES = 64  # a larger batch (replay speed) goes by the forwarder: not pickled twice
_PACKED = "chunk-v1"
_PIPE_BYTES = 1 << 20  # the pipe to the child (Linux's default cap for a user, fs.pipe-max-size)


class _PipeSubscription:
    """The child's only subscription: the events the parent forwards, in order."""

    def __init__(self, hub: PipeHub) -> None:
        self.hub = hub
        self.dropped = 0
        self._held: list[MarketEvent] = []

    def get(self, timeout: float | None = None) -> MarketEvent | None:
        self.hub.flush()
        if not self._held:
            self._read(timeout)
        return self._held.pop(0) if self._held else None

    def drain(self, limit: int = 10_000) -> list[MarketEvent]:
        self._read(0)
        out, self._held = self._held[:limit], self._held[limit:]
        return out

    def _read(self, timeout: float | None) -> None:
        """What the pipe holds, until a batch's worth of lines is held: the rest stays in
        the parent's bounded queue (backpressure reaches the feed loop)."""
        conn = self.hub.conn_in
        while sum(map(batch_lines, self._held)) < _HELD_LINES and conn.poll(timeout):
            timeout = 0
            for msg in conn.recv():
                if msg[0] == "stop":
                    self.hub.stop.set()
                else:
                    kind, coin, ts, data, stale = msg[1:]
                    self._held.append(MarketEvent(kind, coin, ts, _unpacked(data), stale))

    def close(self) -> None:
        pass


class PipeHub:
    """The market hub as the child's ScoreLoop sees it: events come from the parent, what it
    publishes goes back to the parent (sent in one message per loop turn)."""

    def __init__(self, conn_in: Any, conn_out: Any, wanted: set[str], has_feed: bool,
                 stop: threading.Event) -> None:
        self.conn_in, self.conn_out = conn_in, conn_out
        self._wanted = frozenset(wanted)
        self.has_feed = has_feed
        self.stop = stop
        self.loop: Loop | None = None
        self._out: list[tuple[str, str | None, int, Any]] = []
        self._info_at = 0.0
        self._sub = _PipeSubscription(self)

    def subscribe(self, kinds: Any, coins: Any = None, maxsize: int = 0, **bounds: Any
                  ) -> _PipeSubscription:
        """The one subscription; its bound is the parent's queue (and `_HELD_LINES`)."""
        return self._sub

    def wanted(self, kind: str) -> bool:
        return kind in self._wanted

    def publish(self, kind: str, coin: str | None, recv_ts_ms: int, data: Any) -> None:
        self._out.append((kind, coin, recv_ts_ms, data))

    def flush(self) -> None:
        if self._out:
            out, self._out = self._out, []
            self.conn_out.send(("pub", out))
        now = time.monotonic()
        if self.loop is not None and now - self._info_at >= _INFO_EVERY_S:
            self._info_at = now
            self.conn_out.send(("info", self.loop.info()))


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the thread that started us dies; exit at once if it already has."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(3)

    def watch() -> None:  # where prctl is not available
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(3)

    threading.Thread(target=watch, daemon=True, name="score:parent").start()


_PROFILE_ENV = "LOTUS_BENCH_PROFILE"
"""A directory: bench.live's profiling run (the child's cProfile file goes there)."""


def _profiler() -> Any:
    """A running cProfile.Profile when bench.live profiles the processes, else None."""
    if not os.environ.get(_PROFILE_ENV):
        return None
    import cProfile

    prof = cProfile.Profile()
    prof.enable()
    return prof


def child_main(parent: int, settings: Settings, fabric_url: str, key_dir: Path, home: Path,
               migrate: bool, wanted: set[str], has_feed: bool, conn_in: Any, conn_out: Any
               ) -> None:
    """The child process: a ScoreLoop over a PipeHub until it returns."""
    _die_with_parent(parent)
    # The daemon handles Ctrl-C and SIGTERM and stops us through the pipe, after the feed's
    # last batch: a signal to the whole group (Ctrl-C, `timeout`, systemd) must not kill us
    # before we store it. The daemon's death still ends us (PR_SET_PDEATHSIG, closed pipe).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s[score]: %(message)s")
    from lotus_daemon.loops.score import ScoreLoop

    stop = threading.Event()
    hub = PipeHub(conn_in, conn_out, wanted, has_feed, stop)
    loop = ScoreLoop(settings, hub)  # type: ignore[arg-type]
    hub.loop = loop
    loop.warm(logging.getLogger("lotus_daemon"))  # before the first batch is read
    gc.freeze()  # the imports' objects (pandas, sklearn, ...) are never walked again
    prof = _profiler()
    try:
        loop.run(LoopContext(fabric_url, key_dir, home, stop, migrate=migrate, market=hub))
        if prof is not None:
            prof.disable()
            prof.dump_stats(str(Path(os.environ[_PROFILE_ENV]) / "score_child.prof"))
        hub.flush()
        conn_out.send(("done", {"info": loop.info(), "latencies": list(loop.latencies),
                                "hops": list(loop.hops),
                                "step_log": list(loop.step_log)}))
    except BaseException:
        with contextlib.suppress(Exception):
            hub.flush()
            conn_out.send(("error", traceback.format_exc()[-4000:]))
        raise


class ScoreProcess(Loop):
    """The `score` loop, run in a child process (see the module docstring)."""

    name = "score"
    component = "score"

    def __init__(self, settings: Settings, hub: MarketHub) -> None:
        self.settings = settings
        self.hub = hub
        self.sub = hub.subscribe(  # now: none is missed; lossless, with backpressure
            {"batch", "durable", "stale"}, capacity=settings.live.queue_lines,
            weigh=batch_lines)
        self._info: dict[str, Any] = dict(IDLE_INFO)  # until the child's first report
        self.latencies: list[tuple[float, float]] = []
        self.hops: list[tuple[float, float, float, float, int]] = []
        self.step_log: list[tuple[int, float, float]] = []
        self.child_pid: int | None = None
        self.ready = threading.Event()  # the child is scoring (its first report came)
        self._error: str | None = None
        self._to_child: Any = None
        self._pipe_size = 65536
        self._send_lock = threading.Lock()  # one writer of the pipe at a time, in order
        self.direct_sent = 0  # events the publisher's thread wrote to the pipe itself

    def __getattr__(self, name: str) -> Any:  # steps, rows, windows, posted, last_step_s ...
        info = self.__dict__.get("_info", {})
        if name in info:
            return info[name]
        raise AttributeError(name)

    def run(self, ctx: LoopContext) -> None:
        spawn = mp.get_context("spawn")
        to_child_r, to_child = spawn.Pipe(duplex=False)
        from_child, from_child_w = spawn.Pipe(duplex=False)
        wanted = {k for k in _PUBLISHED if self.hub.wanted(k)}
        proc = spawn.Process(target=child_main, name="lotus-score", daemon=True, args=(
            os.getpid(), self.settings, ctx.fabric_url, ctx.key_dir, ctx.home, ctx.migrate, wanted,
            self.hub.has_feed, to_child_r, from_child_w))
        self._error = None
        proc.start()
        self.child_pid = proc.pid
        to_child_r.close()
        from_child_w.close()
        with contextlib.suppress(OSError):  # a batch in a few writes, not one per 64 KiB
            fcntl.fcntl(to_child.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        with contextlib.suppress(OSError):
            self._pipe_size = fcntl.fcntl(to_child.fileno(), fcntl.F_GETPIPE_SZ)
        self._to_child = to_child
        self.sub.direct = self._direct
        receiver = threading.Thread(target=self._receive, args=(from_child, ctx), daemon=True,
                                    name="score:receive")
        receiver.start()
        stop_sent = False
        try:
            while receiver.is_alive():
                if self.sub.wait(0.05):  # what the publisher could not write itself
                    with self._send_lock:
                        events: list[MarketEvent] = []
                        while not events or events[-1].kind != "batch":  # up to a batch
                            more = self.sub.drain(1)  # the rest waits in the hub's queue
                            if not more:
                                break
                            events += more
                        if events:
                            to_child.send(_message(events))
                if ctx.stop.is_set() and not stop_sent:  # the beat is the child's (_receive)
                    with self._send_lock:
                        to_child.send([("stop",)])
                    stop_sent = True
        except (BrokenPipeError, ConnectionResetError, EOFError):
            pass  # the child ended: its error (if any) came through the receiver
        finally:
            self.sub.direct = None
            with self._send_lock:
                self._to_child = None
            receiver.join(_JOIN_S)
            proc.join(_JOIN_S if self._error is None else 1.0)
            if proc.is_alive():
                proc.kill()
                proc.join()
            to_child.close()
            from_child.close()
        if self._error is not None:
            raise RuntimeError(f"score process failed:\n{self._error}")
        if proc.exitcode not in (0, None) and not ctx.stopping():
            raise RuntimeError(f"score process exited with code {proc.exitcode}")

    def _direct(self, ev: MarketEvent) -> bool:
        """Write one event to the child's pipe from the publisher's thread when nothing is
        queued ahead of it and the pipe has room for it (so this never blocks: a stalled
        child leaves the event to the queue, its backpressure and its stall guard)."""
        if not self._send_lock.acquire(blocking=False):
            return False  # the forwarding thread is writing: queue behind it, in order
        try:
            conn = self._to_child
            if conn is None or self.sub.pending() or batch_lines(ev) > _DIRECT_LINES:
                return False
            buf = ForkingPickler.dumps(_message([ev]))
            if len(buf) + 4 + _unread(conn.fileno()) > self._pipe_size:
                return False
            conn.send_bytes(buf)
            self.direct_sent += 1
            return True
        except OSError:
            return False  # the child is gone: the forwarding thread finds out
        finally:
            self._send_lock.release()

    def _receive(self, conn: Any, ctx: LoopContext) -> None:
        while True:
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                if self._error is None:
                    self._error = "the score process ended without a word"
                return
            ctx.beat()  # the child reports at least every _INFO_EVERY_S while it loops
            if kind == "pub":
                for k, coin, ts, data in payload:
                    if k in KINDS:
                        self.hub.publish(k, coin, ts, data)
            elif kind == "info":
                self._info = payload
                self.ready.set()
            elif kind == "done":
                self._info = payload["info"]
                self.latencies.extend(payload["latencies"])
                self.hops.extend(payload["hops"])
                self.step_log.extend(payload["step_log"])
                return
            else:
                self._error = str(payload)
                return

    def info(self) -> dict[str, Any]:
        return {**self._info, "pid": self.child_pid, "direct_sent": self.direct_sent}


def _message(events: list[MarketEvent]) -> list[tuple[Any, ...]]:
    return [("ev", e.kind, e.coin, e.recv_ts_ms, _packed(e), e.stale) for e in events]


def _packed(ev: MarketEvent) -> Any:
    """A batch's chunk with each column as (dtype, shape, bytes): numpy's own pickle costs
    a few microseconds an array each way, most of a one-frame batch's pipe time."""
    data = ev.data
    if ev.kind != "batch" or data is None or len(data) < 5 or not isinstance(data[4], Chunk):
        return data
    c = data[4]
    tables = {name: {col: _bytes(a) for col, a in cols.items()}
              for name, cols in c.tables.items()}
    chunk = (_PACKED, c.first_line, _bytes(c.recv), _bytes(c.kind), tables, c.coins,
             c.intervals, c.dead)
    return (*data[:4], chunk, *data[5:])


def _unpacked(data: Any) -> Any:
    """`_packed` undone (the child's side), with arrays it may write to."""
    packed = data[4] if isinstance(data, tuple) and len(data) >= 5 else None
    if not (isinstance(packed, tuple) and packed and isinstance(packed[0], str)
            and packed[0] == _PACKED):
        return data
    _, first, recv, kind, tables, coins, intervals, dead = packed
    chunk = Chunk(first, _array(recv), _array(kind),
                  {name: {col: _array(b) for col, b in cols.items()}
                   for name, cols in tables.items()}, coins, intervals, dead)
    return (*data[:4], chunk, *data[5:])


def _bytes(a: np.ndarray) -> tuple[str, tuple[int, ...], bytes]:
    return a.dtype.str, a.shape, a.tobytes()


def _array(packed: tuple[str, tuple[int, ...], bytes]) -> np.ndarray:
    dtype, shape, raw = packed
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _unread(fd: int) -> int:
    """Bytes written to a pipe and not read yet (FIONREAD works on either end on Linux)."""
    buf = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return int.from_bytes(buf, "little")
