"""`lotus bus serve`: the Signal Bus, published sigbus-1.0.0 frames over a websocket.

One tail task polls sig_outbox (every `poll_s`, through `lotus_core.bus.FrameReader`) and
hands each new frame to every connected subscriber's bounded queue without waiting for any
of them. A subscriber's own writer task sends its queue; when the queue reaches
`queue_max` (it reads slower than signals are published) it is closed with 4408 and resumes
with the last seq it read, so a slow subscriber never holds up the others.

On connect (see lotus_core/bus/protocol.py) a subscriber is registered at the tail's
current seq H before anything is awaited; its writer first sends the rows in (since, H]
from the fabric, then the queued live frames (all > H), skipping any seq it already sent:
in order, without gaps and without duplicates. All fabric access goes through one worker
thread (one connection), so the event loop never blocks on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from lotus_bus.status import COMPONENT  # the heartbeat row (module sig: it speaks for sig)
from lotus_core.bus.auth import AuthError, SubscriberBook
from lotus_core.bus.frames import (
    CLOSE_LAGGED,
    CLOSE_SHUTDOWN,
    CLOSE_SINCE_AHEAD,
    CLOSE_UNAUTHORIZED,
    MODULE,
    close_reason,
    dumps,
    pong,
    refused,
    welcome,
)
from lotus_core.bus.protocol import Refusal, bearer, parse_hello, query_since
from lotus_core.bus.source import FrameReader, head_seq
from lotus_core.fabric.connect import open_opsdb
from lotus_core.fabric.heartbeats import beat
from lotus_core.store.opsdb import OpsDb

T = TypeVar("T")
_CONTROL = -1      # queue entries that are not signal frames (pong, errors)


@dataclass(frozen=True)
class BusConfig:
    fabric_url: str
    key_dir: Path
    host: str = "127.0.0.1"
    port: int = 8766              # 0 picks a free port
    poll_s: float = 0.02          # how often the tail looks for new rows when idle
    queue_max: int = 1000         # frames queued per subscriber before it is dropped (4408)
    page: int = 500               # rows per fabric read
    hello_timeout_s: float = 5.0  # a client without an Authorization header must say hello
    heartbeat_s: float = 5.0
    ping_interval_s: float | None = 20.0  # websocket pings; None: off
    close_timeout_s: float = 2.0
    sndbuf: int | None = None     # SO_SNDBUF per subscriber socket (None: the kernel's autotuning)
    migrate: bool = True          # False: connect as a role that may not migrate


@dataclass
class BusStats:
    subscribers: int = 0
    connections: int = 0
    refused: int = 0
    lagged: int = 0
    sent: int = 0
    published: int = 0            # frames the tail read since start
    rejected: int = 0             # rows sent to dead_letter instead
    last_seq: int = 0


class _Sub:
    """One authenticated connection: its bounded queue and the last seq it was sent."""

    def __init__(self, name: str, conn: ServerConnection, bound: int, last_sent: int) -> None:
        self.name, self.conn, self.bound = name, conn, bound
        self.last_sent = last_sent
        self.queue: deque[tuple[int, str]] = deque()
        self.closed = False
        self._ready = asyncio.Event()

    def offer(self, seq: int, text: str) -> bool:
        """Queue a frame; False when the queue is at its bound (the caller drops us)."""
        if self.closed:
            return True
        if len(self.queue) >= self.bound:
            return False
        self.queue.append((seq, text))
        self._ready.set()
        return True

    async def take(self) -> list[tuple[int, str]]:
        """Everything queued, waiting for the first; [] once closed."""
        while not self.queue and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        if self.closed:
            return []
        out = list(self.queue)
        self.queue.clear()
        return out

    def shut(self) -> None:
        self.closed = True
        self.queue.clear()
        self._ready.set()


class BusServer:
    """The server; `run()` serves until `stop()`."""

    def __init__(self, cfg: BusConfig) -> None:
        self.cfg = cfg
        self.book = SubscriberBook(cfg.key_dir)
        self.stats = BusStats()
        self.port: int | None = None
        self.cursor = 0  # the last seq the tail has read
        self._subs: set[_Sub] = set()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="bus-fabric")
        self._fabric: OpsDb | None = None
        self._reader: FrameReader | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- the fabric, on its one thread ---------------------------------------------------
    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._loop is not None
        return await self._loop.run_in_executor(self._pool, fn, *args)

    def _open(self) -> int:
        self._fabric = open_opsdb(self.cfg.fabric_url, migrate=self.cfg.migrate)
        self._reader = FrameReader(self._fabric)
        return head_seq(self._fabric)

    def _read(self, after: int) -> tuple[list[Any], int]:
        # a page never exceeds a queue: a subscriber whose writer keeps up empties its
        # queue while the next page is read, so only a slow one reaches the bound
        assert self._reader is not None
        return self._reader.read(after, min(self.cfg.page, self.cfg.queue_max))

    def _beat(self, status: str) -> None:
        if self._fabric is not None:
            beat(self._fabric, COMPONENT, MODULE, status,
                 {**asdict(self.stats), "port": self.port, "host_bind": self.cfg.host,
                  "subscriber_names": sorted({s.name for s in self._subs})[:50]})

    def _close_fabric(self) -> None:
        if self._fabric is not None:
            self._fabric.close()
            self._fabric = None

    # -- serving -------------------------------------------------------------------------
    async def run(self, ready: threading.Event | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop, self._wake = asyncio.Event(), asyncio.Event()
        self.cursor = self.stats.last_seq = await self._db(self._open)
        server: Server
        try:
            async with serve(self._handle, self.cfg.host, self.cfg.port,
                             ping_interval=self.cfg.ping_interval_s,
                             close_timeout=self.cfg.close_timeout_s, compression=None,
                             max_size=2**16) as server:
                self.port = next(iter(server.sockets)).getsockname()[1]
                await self._db(self._beat, "starting")
                if ready is not None:
                    ready.set()
                tail = asyncio.create_task(self._tail())
                beats = asyncio.create_task(self._beats())
                await self._stop.wait()
                tail.cancel()
                beats.cancel()
                for sub in list(self._subs):
                    self._spawn(self._close(sub, CLOSE_SHUTDOWN, "server shutting down"))
                    sub.shut()
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            with contextlib.suppress(Exception):
                await self._db(self._beat, "stopped")
            await self._db(self._close_fabric)
            self._pool.shutdown(wait=True)

    def stop(self) -> None:
        """Stop serving (thread-safe)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def wake(self) -> None:
        """Look for new rows now (thread-safe): an in-process publisher's nudge."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _beats(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.heartbeat_s)
            await self._db(self._beat, "ok")

    async def _tail(self) -> None:
        assert self._wake is not None
        while True:
            frames, last = await self._db(self._read, self.cursor)
            for frame in frames:  # no await from here to the cursor update
                for sub in list(self._subs):
                    if not sub.offer(frame.seq, frame.text):
                        self._lag(sub)
            self.stats.published += len(frames)
            assert self._reader is not None
            self.stats.rejected = len(self._reader.rejected)
            moved = last != self.cursor
            self.cursor = self.stats.last_seq = last
            if not moved:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.cfg.poll_s)

    def _lag(self, sub: _Sub) -> None:
        self.stats.lagged += 1
        self._forget(sub)
        reason = (f"lagged: {self.cfg.queue_max} frames queued; reconnect with since=<the last "
                  f"seq you read> (server sent up to {sub.last_sent})")
        self._spawn(self._close(sub, CLOSE_LAGGED, reason))

    def _forget(self, sub: _Sub) -> None:
        if sub in self._subs:
            self._subs.discard(sub)
            self.stats.subscribers = len(self._subs)
        sub.shut()

    async def _close(self, sub: _Sub, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await sub.conn.close(code, close_reason(reason))

    async def _refuse(self, conn: ServerConnection, why: Refusal) -> None:
        self.stats.refused += 1
        with contextlib.suppress(ConnectionClosed):
            await conn.send(refused(why.code, why.reason))
        with contextlib.suppress(Exception):
            await conn.close(why.close_code, close_reason(f"{why.code}: {why.reason}"))

    async def _hello(self, conn: ServerConnection) -> tuple[str | None, int | None] | Refusal:
        """The token and since this connection asks with (header, query, or a hello)."""
        request = conn.request
        assert request is not None
        since = query_since(request.path)
        if isinstance(since, Refusal):
            return since
        token = bearer(request.headers.get("Authorization"))
        if token is not None:
            return token, since
        try:
            message = await asyncio.wait_for(conn.recv(), self.cfg.hello_timeout_s)
        except TimeoutError:
            return Refusal("missing_token", f"no Authorization header and no hello within "
                           f"{self.cfg.hello_timeout_s:g} s", CLOSE_UNAUTHORIZED)
        hello = parse_hello(message)
        if isinstance(hello, Refusal):
            return hello
        return hello.token, hello.since if hello.since is not None else since

    async def _handle(self, conn: ServerConnection) -> None:
        self.stats.connections += 1
        if self.cfg.sndbuf:  # bounds what a stalled reader can park in the kernel
            sock = conn.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.cfg.sndbuf)
        try:
            asked = await self._hello(conn)
        except ConnectionClosed:
            return
        if isinstance(asked, Refusal):
            await self._refuse(conn, asked)
            return
        token, since = asked
        try:
            name = self.book.check(token)
        except (AuthError, ValueError) as exc:
            code = exc.code if isinstance(exc, AuthError) else "subscribers_unreadable"
            await self._refuse(conn, Refusal(code, str(exc), CLOSE_UNAUTHORIZED))
            return
        head = self.cursor
        start = head if since is None else since
        if start > head:
            await self._refuse(conn, Refusal(
                "since_ahead", f"since={start} is beyond the bus head {head}: a seq from "
                "another (or a reset) fabric", CLOSE_SINCE_AHEAD))
            return
        sub = _Sub(name, conn, self.cfg.queue_max, start)
        self._subs.add(sub)  # registered at `head` with no await since reading it
        self.stats.subscribers = len(self._subs)
        writer = asyncio.create_task(self._write(sub, start, head))
        try:
            async for message in conn:
                if not sub.offer(_CONTROL, self._answer(message)):
                    self._lag(sub)
        except ConnectionClosed:
            pass
        finally:
            self._forget(sub)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await writer

    def _answer(self, message: str | bytes) -> str:
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        if text.strip() in ('{"op":"ping"}', '{"op": "ping"}'):
            return pong()
        return dumps({"type": "error", "reason": "the bus accepts only {\"op\": \"ping\"} "
                      "after the hello; resume by reconnecting with since"})

    async def _write(self, sub: _Sub, start: int, head: int) -> None:
        """Welcome, the catch-up (start, head] from the fabric, then the live queue."""
        conn = sub.conn
        try:
            await conn.send(welcome(sub.name, start, head))
            after = start
            while after < head and not sub.closed:
                frames, last = await self._db(self._read, after)
                for frame in frames:
                    if frame.seq > head or sub.closed:
                        break
                    await conn.send(frame.text)
                    sub.last_sent = frame.seq
                    self.stats.sent += 1
                if last == after:
                    break
                after = last
            while True:
                batch = await sub.take()
                if not batch:
                    return
                for seq, text in batch:
                    if seq != _CONTROL and seq <= sub.last_sent:
                        continue  # already sent by the catch-up
                    await conn.send(text)
                    if seq != _CONTROL:
                        sub.last_sent = seq
                        self.stats.sent += 1
        except ConnectionClosed:
            self._forget(sub)


class BusThread:
    """A bus server on its own event loop in a background thread (tests, benchmarks)."""

    def __init__(self, cfg: BusConfig) -> None:
        self.server = BusServer(cfg)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="bus-server", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self.server.run(self._ready))
        except BaseException as exc:  # surfaced by __enter__ when start-up failed
            self._error = exc
            self._ready.set()

    def __enter__(self) -> BusThread:
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError(f"bus server did not start: {self._error!r}")
        return self

    @property
    def url(self) -> str:
        return f"ws://{self.server.cfg.host}:{self.server.port}"

    def wait_cursor(self, seq: int, timeout_s: float = 10.0) -> None:
        """Block until the tail has read up to `seq` (tests)."""
        deadline = time.monotonic() + timeout_s
        while self.server.cursor < seq:
            if time.monotonic() > deadline:
                raise TimeoutError(f"bus tail at {self.server.cursor}, waited for {seq}")
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self._thread.join(15)
