"""`lotus replay-server`: recordings served over a real websocket, speaking the venue's contract.

One replay clock per server walks the recorded frames in receive order at `speed`
(1 = real time, N = N times faster, None = as fast as the clients read). It starts when
the first client subscribes; every client gets, from then on, the frames of the channels
and coins it subscribed to, exactly as recorded — so a late subscriber starts at the
server's current replay time. Frames are queued per client with a bound: at `max` speed
the slowest connected client sets the pace and nothing is lost while it stays connected.

Fault injection (`Faults`), in replay seconds since the clock started (at 1x the same as
wall seconds, and deterministic at `max`): drop every connection every S s (the TCP
connection is aborted, which the client sees as close code 1006), stall one subscription
(or every channel of one coin) for S s while the socket stays open, a seeded fraction of
garbage frames after real ones, and refusing new connections (HTTP 503) for S wall
seconds after start and after each drop.
"""

from __future__ import annotations

import asyncio
import http
import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from lotus_core.venues.hyperliquid.wire import (
    GREETING,
    L2BOOK,
    PONG,
    REPLAY_CLOCK,
    TRADES,
    Key,
    SubscriptionError,
    ack,
    error,
    normalise,
)
from lotus_replay.source import Frame, days_between, frames, ws_frame, ws_payload

_QUEUE = 20_000
_YIELD_EVERY = 256
_WRITE_BATCH = 512  # queued frames written to the socket in one system call
_MAX_GAP_MS = 3_600_000  # a silence longer than an hour (days apart) is skipped, not waited
_CLOCK_KEY = (REPLAY_CLOCK,)
_CLOCK_TEXT = b'{"channel":"' + REPLAY_CLOCK.encode() + b'","data":{"time":%d}}'  # % the time
_CLOCK_RUN = b'{"channel":"' + REPLAY_CLOCK.encode() + b'","data":{"time":%d,"times":[%s]}}'
_RUN = 256  # frames a max-speed replay reads at a time (a client's share: one clock frame)


@dataclass(frozen=True)
class Faults:
    drop_every_s: float | None = None
    stall: str | None = None          # "BTC" (every channel of the coin) or "l2Book:BTC"
    stall_at_s: float = 0.0
    stall_for_s: float = 0.0
    garbage: float = 0.0
    refuse_for_s: float = 0.0
    seed: int = 0

    def stalled(self, key: Key | None, rel_s: float) -> bool:
        if self.stall is None or key is None or key[0] == REPLAY_CLOCK:
            return False
        if not self.stall_at_s <= rel_s < self.stall_at_s + self.stall_for_s:
            return False
        kind, _, coin = self.stall.rpartition(":")
        return key[1] == coin and (not kind or key[0] == kind)


@dataclass
class ReplayConfig:
    feed_dir: Path
    start: str | None = None
    end: str | None = None
    speed: float | None = 1.0         # None: max
    host: str = "127.0.0.1"
    port: int = 0
    faults: Faults = field(default_factory=Faults)
    settle_s: float = 0.25            # the clock starts this long after the first subscribe
    hold_without_client: bool = False  # the clock waits while no client is subscribed
    """A test that kills and restarts its client sets `hold_without_client`: the venue
    streams on while nobody listens, but a restart that takes longer than the rest of a
    short recording would then see nothing, and the test could not tell a slow machine from
    a daemon that does not resume."""


_GARBAGE = ("not json at all {", '{"channel":"mystery","data":{}}',
            '{"channel":"' + L2BOOK + '","data":{"coin":"BTC","time":"soon","levels":[[],[]]}}',
            '{"channel":"' + TRADES + '","data":[{"coin":"BTC","side":"X"}]}', "[1, 2, 3]")
"""Frames the venue never sends well formed (the garbage fault): a client must refuse
each with a reason and go on."""


def text_frames(texts: list[str]) -> bytes:
    """The websocket frames of `texts`, one unfragmented text frame each, as a server writes
    them (RFC 6455 5.2: FIN, opcode 1, no mask, no extension): the bytes websockets'
    `send_text` produces (tests/replay check it), without its two objects per frame, which
    were a sixth of the server's CPU at `--speed max`. The queues hold frames built so
    (`ws_frame`: a recorded frame is framed once, from its recorded bytes, never decoded
    and encoded again), so a writer joins them in one call."""
    return b"".join([ws_frame(text.encode()) for text in texts])


class _Client:
    """One connection: its subscriptions and its outgoing queue of websocket frames (a
    deque: the replay clock pushes every frame without a coroutine; it waits only when the
    queue is at its bound)."""

    def __init__(self, conn: ServerConnection) -> None:
        self.conn = conn
        self.subs: dict[Key, dict[str, Any]] = {}
        self.out: deque[bytes] = deque()
        self.closed = False
        self.last_clock: int | None = None
        self.woken = False              # _ready set since the writer last waited
        self._ready = asyncio.Event()   # something to send (or closed)
        self._space = asyncio.Event()   # below the bound (or closed)

    def push(self, frame: bytes) -> bool:
        """Queue `frame` (a `ws_frame`); False once the queue is at its bound (then await
        `room()`)."""
        return self.push_run((frame,))

    def push_run(self, frames: tuple[bytes, ...] | list[bytes]) -> bool:
        """`push` of several frames at once."""
        if self.closed:
            return True
        self.out.extend(frames)
        if not self.woken:
            self.woken = True
            self._ready.set()
        return len(self.out) < _QUEUE

    async def room(self) -> None:
        while not self.closed and len(self.out) >= _QUEUE:
            self._space.clear()
            await self._space.wait()

    async def put(self, text: str) -> None:
        if not self.push(ws_frame(text.encode())):
            await self.room()

    async def take(self, limit: int) -> list[bytes]:
        """Up to `limit` queued frames, waiting for the first; [] once closed."""
        while not self.out and not self.closed:
            self.woken = False
            self._ready.clear()
            await self._ready.wait()
        if self.closed:
            return []
        out, pop = self.out, self.out.popleft
        batch = [pop() for _ in range(min(limit, len(out)))]
        if len(out) < _QUEUE:
            self._space.set()
        return batch

    def shut(self) -> None:
        self.closed = True
        self.out.clear()
        self._ready.set()
        self._space.set()


@dataclass
class ReplayStats:
    frames_read: int = 0
    frames_sent: int = 0
    garbage_sent: int = 0
    drops: int = 0
    refused: int = 0
    connections: int = 0
    replay_ms: int | None = None
    finished: bool = False
    clock_frames: int = 0             # replayClock messages sent (all clients)


class ReplayServer:
    """The server; `run()` serves until `stop()`; `done` is set when the replay has ended."""

    def __init__(self, cfg: ReplayConfig) -> None:
        self.cfg = cfg
        self.days = days_between(Path(cfg.feed_dir), cfg.start, cfg.end)
        if not self.days:
            raise FileNotFoundError(
                f"no recordings in {cfg.feed_dir} between {cfg.start or 'the first day'} and "
                f"{cfg.end or 'the last day'}")
        self.stats = ReplayStats()
        self.done = threading.Event()
        self.port: int | None = None
        self._clients: list[_Client] = []
        self._started: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._subscribed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refuse_until = 0.0
        self._rng = random.Random(cfg.faults.seed)
        self._garbage = cfg.faults.garbage

    # -- serving -------------------------------------------------------------------------
    async def run(self, ready: threading.Event | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._started, self._stop = asyncio.Event(), asyncio.Event()
        self._subscribed = asyncio.Event()
        self._refuse_until = time.monotonic() + self.cfg.faults.refuse_for_s
        server: Server
        # compression=None: no permessage-deflate (the client may offer it; the venue's
        # frames are then sent as recorded, uncompressed: on loopback deflating each frame
        # and inflating it again was a quarter of both ends' CPU)
        async with serve(self._handle, self.cfg.host, self.cfg.port, ping_interval=None,
                         process_request=self._process_request, max_size=2**24,
                         compression=None) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            if ready is not None:
                ready.set()
            clock = asyncio.create_task(self._clock())
            await self._stop.wait()
            clock.cancel()
            for c in list(self._clients):
                c.shut()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def _process_request(self, conn: ServerConnection, request: Any) -> Any:
        if time.monotonic() < self._refuse_until:
            self.stats.refused += 1
            return conn.respond(http.HTTPStatus.SERVICE_UNAVAILABLE,
                                "replay server refusing connections (fault injection)\n")
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        client = _Client(conn)
        self._clients.append(client)
        self.stats.connections += 1
        writer = asyncio.create_task(self._write(client))
        try:
            await client.put(GREETING)
            async for message in conn:
                await self._request(client, message)
        except ConnectionClosed:
            pass
        finally:
            client.shut()
            self._clients.remove(client)
            writer.cancel()

    async def _write(self, client: _Client) -> None:
        """Send the client's queued frames, one websocket message each; what is queued
        when the writer wakes (up to `_WRITE_BATCH`) goes to the socket in one write."""
        conn = client.conn
        try:
            while True:
                batch = await client.take(_WRITE_BATCH)
                if not batch:
                    return
                async with conn.send_context():  # websockets' own send path (flow control)
                    protocol = conn.protocol
                    if (protocol.state is State.OPEN and not protocol.extensions
                            and not protocol.expect_continuation_frame
                            and not protocol.writes):
                        conn.transport.write(b"".join(batch))
                        continue
                    for frame in batch:  # the library's path (what ws_frame equals)
                        protocol.send_text(ws_payload(frame))
                    data = protocol.data_to_send()
                    if all(data):  # b"" is a half-close: send_context's own exit does it
                        conn.transport.write(b"".join(data))
                    else:
                        protocol.writes[:0] = data
        except (ConnectionClosed, asyncio.CancelledError):
            client.shut()

    async def _request(self, client: _Client, message: str | bytes) -> None:
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        try:
            req = json.loads(text)
            if not isinstance(req, dict) or req.get("method") not in ("subscribe", "unsubscribe",
                                                                      "ping"):
                raise ValueError
        except ValueError:
            await client.put(error("Error parsing JSON into valid websocket request: ", text))
            return
        method = req["method"]
        if method == "ping":
            await client.put(PONG)
            return
        sub = req.get("subscription")
        try:
            key, echo = normalise(sub)
        except SubscriptionError:
            await client.put(error("Invalid subscription: ", json.dumps(sub)))
            return
        if method == "subscribe":
            if key in client.subs:
                await client.put(error("Already subscribed: ", json.dumps(sub)))
                return
            await client.put(ack(method, echo))
            client.subs[key] = echo
            assert self._started is not None and self._subscribed is not None
            self._started.set()
            self._subscribed.set()
        else:
            if key not in client.subs:
                await client.put(error("Already unsubscribed: ", json.dumps(sub)))
                return
            del client.subs[key]
            await client.put(ack(method, echo))

    # -- the replay clock ---------------------------------------------------------------
    async def _clock(self) -> None:
        assert self._started is not None
        await self._started.wait()
        await asyncio.sleep(self.cfg.settle_s)  # let a client send its whole burst of subscribes
        faults, speed = self.cfg.faults, self.cfg.speed
        if speed is None and faults == Faults() and not self.cfg.hold_without_client:
            await self._clock_runs()
            return
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        first: int | None = None
        next_drop = faults.drop_every_s
        offset_ms = 0  # replay time skipped between recordings (days apart, or a gap)
        prev: int | None = None
        stats, clients, deliver = self.stats, self._clients, self._deliver
        stall = faults.stall is not None  # asked per frame only when a stall is configured
        for n, frame in enumerate(frames(Path(self.cfg.feed_dir), self.days)):
            recv = frame.recv_ts_ms
            first = recv if first is None else first
            if prev is not None and recv - prev > _MAX_GAP_MS:
                offset_ms += recv - prev - 1
            prev = recv
            rel_s = (recv - first - offset_ms) / 1000.0
            stats.frames_read += 1
            stats.replay_ms = recv
            if self.cfg.hold_without_client and not self._listening():
                t0 += await self._await_client()
            if speed is not None:
                delay = t0 + rel_s / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif n % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if next_drop is not None and rel_s >= next_drop:
                self._drop_all()
                next_drop += faults.drop_every_s or 0.0
            if stall and faults.stalled(frame.key, rel_s):
                continue
            for client in list(clients):
                if not deliver(client, frame):
                    await client.room()
        self.stats.finished = True
        self.done.set()

    def _listening(self) -> bool:
        return any(c.subs and not c.closed for c in self._clients)

    async def _await_client(self) -> float:
        """Wait for a client to subscribe (and send the rest of its burst); the seconds
        waited, by which the replay clock moves on."""
        assert self._subscribed is not None
        loop = asyncio.get_running_loop()
        t = loop.time()
        while not self._listening():
            self._subscribed.clear()
            await self._subscribed.wait()
        await asyncio.sleep(self.cfg.settle_s)
        return loop.time() - t

    async def _clock_runs(self) -> None:
        """`_clock` at max speed without faults: the frames in runs of `_RUN`, each client's
        share of a run behind one clock frame that lists their receive times, in order
        (`_deliver_run`), not a clock frame per new receive time (1.1 M of the bench
        replay's 2.66 M messages; against a frame per receive time, -0.7 s of the server's
        6.1 s of CPU and -0.8 s of the feed loop's 12.1 s)."""
        stats, clients = self.stats, self._clients
        source = frames(Path(self.cfg.feed_dir), self.days)
        while run := list(islice(source, _RUN)):
            stats.frames_read += len(run)
            stats.replay_ms = run[-1].recv_ts_ms
            for client in list(clients):
                if not self._deliver_run(client, run):
                    await client.room()
            await asyncio.sleep(0)
        self.stats.finished = True
        self.done.set()

    def _deliver_run(self, client: _Client, run: list[Frame]) -> bool:
        """Queue the frames of `run` that `client` subscribed to, behind one clock frame
        `{"time": first, "times": [each frame's receive time]}` when it asked for the clock
        (wire.py: the next len(times) messages are these frames; nothing is queued between
        them: this runs without yielding). False: the queue is at its bound."""
        subs = client.subs
        if client.closed or not subs:
            return True
        mine = [f for f in run if f.key is None or f.key in subs]
        if not mine:
            return True
        self.stats.frames_sent += len(mine)
        if _CLOCK_KEY in subs:
            times = [f.recv_ts_ms for f in mine]
            if times.count(times[0]) < len(times):  # several times: one frame lists them
                client.push(ws_frame(_CLOCK_RUN % (times[0], b",".join(b"%d" % t
                                                                       for t in times))))
                self.stats.clock_frames += 1
            elif times[0] != client.last_clock:  # one time for all: the plain clock frame
                client.push(ws_frame(_CLOCK_TEXT % times[0]))
                self.stats.clock_frames += 1
            client.last_clock = times[-1]
        return client.push_run([f.data for f in mine])

    def _deliver(self, client: _Client, frame: Frame) -> bool:
        """Queue `frame` for `client` if it subscribed to it; False: its queue is full."""
        subs = client.subs
        if client.closed or not subs:
            return True
        key = frame.key
        if key is not None and key not in subs:
            return True
        recv = frame.recv_ts_ms
        if client.last_clock != recv and _CLOCK_KEY in subs:
            client.last_clock = recv
            client.push(ws_frame(_CLOCK_TEXT % recv))
            self.stats.clock_frames += 1
        room = client.push(frame.data)
        self.stats.frames_sent += 1
        g = self._garbage
        if g > 0 and self._rng.random() < g:
            room = client.push(ws_frame(self._rng.choice(_GARBAGE).encode()))
            self.stats.garbage_sent += 1
        return room

    def _drop_all(self) -> None:
        self.stats.drops += 1
        self._refuse_until = time.monotonic() + self.cfg.faults.refuse_for_s
        for client in list(self._clients):
            client.shut()
            transport = client.conn.transport
            if transport is not None:
                transport.abort()


class ReplayThread:
    """A replay server on its own event loop in a background thread (tests, benchmarks)."""

    def __init__(self, cfg: ReplayConfig) -> None:
        self.server = ReplayServer(cfg)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="replay-server", daemon=True)

    def _main(self) -> None:
        asyncio.run(self.server.run(self._ready))

    def __enter__(self) -> ReplayThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("replay server did not start")
        return self

    @property
    def url(self) -> str:
        return f"ws://{self.server.cfg.host}:{self.server.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self._thread.join(10)
