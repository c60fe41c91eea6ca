"""The feed loop: the websocket client, the raw recording, staleness, and the market hub.

One code path for the real venue and `lotus replay-server`: connect, subscribe to every
configured channel and coin, read frames. Every frame is appended to the day's recording
(`lotus_core.live.recorder`) and validated by the very code `raw_feed` runs
(`lotus_core.feed.extract.ChunkBuilder`, fed each frame as it is parsed here, so a frame
is decoded once): dead letters go to the fabric's `feed_dead_letter` (source
`live:<url>`), and the lines go to the score loop on the hub as a `batch` as soon as the
socket has nothing more to read at live pace (at replay speed, at each flush or every
`_BATCH_LINES`), ahead of the recording's flush: the score loop scores them at once and
holds what it stores and posts until the `durable` event that follows the flush says the
file holds them (so nothing stored or posted can be lost to `kill -9`). When the scorer's
queue is full (`live.queue_lines`: a replay faster than the scorer) the hand-out waits for
room, so the socket is read at the scorer's pace (`waited_s` in `info`). Books, trades,
contexts and candles are published on the hub as they arrive. Pings every
`ping_interval_s`; no pong (and no frame: a frame also proves the connection alive)
within `pong_timeout_s` drops the connection; reconnects back off 250 ms x2 to 5 s with
seeded jitter, forever, and resubscribe with identical parameters.
Staleness is tracked per subscription on the client's clock and every stale period is
logged with its start and end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import time
from dataclasses import asdict
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
)

from lotus_core.feed.extract import ChunkBuilder
from lotus_core.feed.lines import LineBlock
from lotus_core.live.backoff import Backoff
from lotus_core.live.gc_policy import collecting_less
from lotus_core.live.recorder import DayRecorder, gap_message, live_feed_dir, utc_day
from lotus_core.live.settings import FeedSettings
from lotus_core.live.stale import StalePeriod, StaleTracker
from lotus_core.time import DAY_MS
from lotus_core.venues.hyperliquid import wire
from lotus_core.venues.hyperliquid.wire import ack_key, record_line, route, stream_kind
from lotus_daemon.loops.base import Loop, LoopContext
from lotus_daemon.loops.feed_connection import FeedConnection
from lotus_daemon.market import MarketHub

log = logging.getLogger("lotus_daemon")

_HOUSEKEEP_S = 0.1
_STALE_CHECK_MS = 100
_BATCH_LINES = 10_000  # at replay speed: a batch costs the score loop a fixed part too
_LIVE_DRAIN = 32  # frames read at once: at most this many is live pace (hand them on now)
_BURST_SPAN_MS = 50  # a burst's frames lie within this much of the market's clock
_KIND = {wire.L2BOOK: "book", wire.BBO: "bbo", wire.TRADES: "trades", wire.ASSET_CTX: "ctx",
         wire.CANDLE: "candle"}  # a data channel -> the market hub's kind


_NOT_JSON = object()
_CLOCK_HEAD = b'{"channel":"replayClock","data":{"time":'
"""How `lotus replay-server` lays out its clock frames (one before each new recorded
receive time; at max speed one per run of frames, listing their times), the plain ones read
without a JSON parse."""


def _clock_times(data: Any) -> tuple[int, list[int]]:
    """(time, the run's times reversed) of a replayClock frame's data: `{"time": t}`, or a
    clock run `{"time": t, "times": [...]}` (the receive times of the next len(times)
    messages, in order; lotus_core/venues/hyperliquid/wire.py)."""
    times = data.get("times") if isinstance(data, dict) else None
    if isinstance(times, list) and times and all(type(t) is int for t in times):
        return int(data["time"]), times[::-1]
    return int(data["time"]), []


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _day_range(ms: int) -> tuple[int, int, str]:
    """[start, end) of the UTC day of `ms`, and its name (computed once a day, not per
    frame)."""
    lo = ms - ms % DAY_MS
    return lo, lo + DAY_MS, utc_day(ms)


def subscriptions(cfg: FeedSettings) -> list[dict[str, Any]]:
    """The subscription objects of the settings, in a fixed order (the venue's
    `wire.subscriptions`)."""
    return wire.subscriptions(cfg.coins, cfg.channels, cfg.candle_interval,
                              replay_clock=cfg.clock == "replay")


async def _socket_drained(ws: FeedConnection) -> bool:
    """Whether the socket held nothing more once the event loop has read it: two yields,
    because the loop resumes this task before it runs the read callbacks its poll queued
    (asyncio's ready queue is first in, first out)."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return not ws.inbox


class _NoPong(Exception):
    pass


class FeedLoop(Loop):
    name = "feed"
    component = "feed"

    def __init__(self, cfg: FeedSettings, url: str | None = None,
                 hub: MarketHub | None = None) -> None:
        self.cfg = cfg
        self.url = url or cfg.url
        self.hub = hub or MarketHub()
        self.hub.has_feed = True
        self.subs = subscriptions(cfg)
        self.backoff = Backoff(cfg.backoff_initial_ms, cfg.backoff_factor, cfg.backoff_cap_ms,
                               cfg.backoff_seed)
        self.stale = StaleTracker(cfg.stale_after_s)
        self.stale_log: list[StalePeriod] = []
        self.messages = 0
        self.data_frames = 0
        self.connects = 0
        self.reconnects = 0
        self.resubscribes = 0
        self.acked: set[tuple[Any, ...]] = set()
        self.dead_letters = 0
        self.waited_s = 0.0  # time spent waiting for room in the scorer's queue
        self.server_errors = 0
        self.last_frame_ms: int | None = None
        self.last_venue_ms: int | None = None
        self.last_error: str | None = None
        self.recovered: str | None = None  # the last connection error, once resubscribed
        self.absent: list[str] = []  # channels no coin delivered (StaleTracker.absent)
        self.recorder: DayRecorder | None = None
        self._replay_ms: int | None = None
        self._replay_clock = cfg.clock == "replay"  # now_ms, asked per frame
        self._pre_clock: list[tuple[str | bytes, Any]] = []
        self._times: list[int] = []  # a clock run's times still to come, the next last
        self._batch: list[bytes] = []
        self._batch_day: str | None = None
        self._day_lo = self._day_hi = 0
        self._builder = ChunkBuilder(1)
        self._unrecorded_lines = 0
        self._watching = False
        self._batch_t0 = 0.0
        self._batch_ms0 = 0  # the market clock of the unshipped batch's first frame
        self._shipped: tuple[str, int] | None = None  # (day, last line) handed out, unflushed
        self._last_stale_check = -1
        self._pong_deadline: float | None = None
        self._rate = (time.monotonic(), 0, 0.0)
        self._fabric: Any = None
        self._gap_from: int | None = None  # start of the open disconnect gap (recorded)

    # -- clock ----------------------------------------------------------------------------
    def now_ms(self) -> int | None:
        if self._replay_clock:
            return self._replay_ms
        return int(time.time() * 1000)

    # -- the loop --------------------------------------------------------------------------
    def run(self, ctx: LoopContext) -> None:
        if self.cfg.record:
            self.recorder = DayRecorder(live_feed_dir(ctx.home), self.cfg.flush_interval_s,
                                        level=self.cfg.compress_level, background=True)
        with ctx.open_opsdb() as fabric, collecting_less():
            self._fabric = fabric
            try:
                asyncio.run(self._main(ctx))
            finally:
                self._close_gaps()
                self._flush()
                if self.recorder is not None:
                    self.recorder.close()
                self._fabric = None
                # the end of this feed: a score loop stops once it has scored up to here
                self.hub.publish("batch", None, self.last_frame_ms or 0, None)

    async def _main(self, ctx: LoopContext) -> None:
        while not ctx.stopping():
            try:
                async with connect(self.url, ping_interval=None, open_timeout=10,
                                   max_size=2**24, close_timeout=1,
                                   create_connection=FeedConnection) as ws:
                    await self._session(ws, ctx)
            except (OSError, InvalidHandshake, InvalidURI, ConnectionClosed, TimeoutError,
                    _NoPong) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                ctx.log.info("feed %s: connection lost (%s)", self.url, self.last_error)
            if ctx.stopping():
                break
            self._open_gap()
            self.reconnects += 1
            delay = self.backoff.next_s()
            end = time.monotonic() + delay
            while time.monotonic() < end and not ctx.stopping():
                await asyncio.sleep(min(0.05, end - time.monotonic()))

    async def _session(self, ws: FeedConnection, ctx: LoopContext) -> None:
        self.connects += 1
        if self.connects > 1:
            self.resubscribes += 1
        self.acked.clear()
        self._times = []  # a run's frames that did not arrive are not coming on this socket
        for sub in self.subs:
            await ws.send(json.dumps({"method": "subscribe", "subscription": sub}))
        self._watching = False  # streams are watched from the first frame with a clock
        keeper = asyncio.create_task(self._housekeep(ws, ctx))
        try:
            while True:
                await ws.arrived.wait()
                ws.arrived.clear()
                inbox, ws.inbox = ws.inbox, []
                for message in inbox:
                    self._on_frame(message)
                    if len(self._batch) >= _BATCH_LINES:
                        self._ship()
                if len(inbox) <= _LIVE_DRAIN:
                    self._ship()  # live pace: the scorer gets the frames on arrival
                elif self._batch and self._market_pace() and await _socket_drained(ws):
                    # a burst (every coin's book at one instant) and then nothing to read:
                    # live pace too, or the burst would wait for the next frame to arrive
                    self._ship()
                if ws.connection_lost_waiter.done() and not ws.inbox:
                    closed = ws.close_exc  # as `async for` ends: raise unless clean
                    if not isinstance(closed, ConnectionClosedOK):
                        raise closed
                    break
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, _NoPong):
                await keeper
        if self._pong_deadline is not None and time.monotonic() > self._pong_deadline:
            raise _NoPong(f"no pong within {self.cfg.pong_timeout_s} s")

    def _stream_keys(self) -> list[tuple[str, str]]:
        return [(ch, coin) for coin in self.cfg.coins for ch in self.cfg.channels]

    async def _housekeep(self, ws: ClientConnection, ctx: LoopContext) -> None:
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + self.cfg.ping_interval_s
        self._pong_deadline = None
        while True:
            await asyncio.sleep(_HOUSEKEEP_S)
            if ctx.stopping():
                await ws.close()
                return
            if loop.time() >= next_ping:
                await ws.send('{"method":"ping"}')
                next_ping = loop.time() + self.cfg.ping_interval_s
                if self._pong_deadline is None:
                    self._pong_deadline = time.monotonic() + self.cfg.pong_timeout_s
            if self._pong_deadline is not None and time.monotonic() > self._pong_deadline:
                ctx.log.warning("feed %s: no pong within %.0f s; reconnecting", self.url,
                                self.cfg.pong_timeout_s)
                if ws.transport is not None:
                    ws.transport.abort()
                return
            if self.recorder is None or self.recorder.tick():
                self._flush()

    # -- one frame -------------------------------------------------------------------------
    def _on_frame(self, raw: bytes) -> None:
        """One websocket message, as its bytes: JSON is parsed from them (which also proves
        them UTF-8) and recorded as they came; only what is not JSON is decoded (invalid
        UTF-8 replaced) and tried again as text."""
        self.messages += 1
        if self._pong_deadline is not None:
            # a connection delivering frames is alive: at replay speed the pong can sit
            # behind thousands of queued frames; silence (no pong, no frame) is what kills
            self._pong_deadline = time.monotonic() + self.cfg.pong_timeout_s
        if raw.startswith(_CLOCK_HEAD):
            digits = raw[len(_CLOCK_HEAD):-2]  # the server's own layout: no parse needed
            if digits.isdigit() and raw.endswith(b"}}"):
                self._replay_ms, self._times = int(digits), []
            else:
                self._replay_ms, self._times = _clock_times(orjson.loads(raw)["data"])
            if self._pre_clock:
                for held, held_msg in self._pre_clock:
                    self._keep(self._replay_ms, held, held_msg)
                self._pre_clock.clear()
            return
        if self._times:  # a clock run: this message's own receive time
            self._replay_ms = self._times.pop()
        text: str | bytes = raw
        try:  # parsed once, here: for the recording line and for the hub
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            text = raw.decode("utf-8", "replace")
            try:
                msg = orjson.loads(text)
            except orjson.JSONDecodeError:
                msg = _NOT_JSON
        now = self._replay_ms if self._replay_clock else int(time.time() * 1000)  # now_ms
        if now is None:  # a replay's greeting and acks, before its clock's first tick
            self._pre_clock.append((text, msg))
            self._inspect(msg, None)
            return
        self._keep(now, text, msg)
        self._inspect(msg, now)

    def _keep(self, now: int, text: str | bytes, msg: Any) -> None:
        line = record_line(now, text, msg is not _NOT_JSON)
        if not self._day_lo <= now < self._day_hi:
            self._day_lo, self._day_hi, day = _day_range(now)
            if day != self._batch_day:
                self._flush()
                self._batch_day = day
                self._unrecorded_lines = 0
        if self.recorder is not None:
            self.recorder.write(now, line)
            line_no = self.recorder.day_lines
        else:
            self._unrecorded_lines += 1
            line_no = self._unrecorded_lines
        if not self._batch:
            self._builder = ChunkBuilder(line_no)
            self._batch_t0 = time.perf_counter()
            self._batch_ms0 = now
        self._batch.append(line)
        if msg is _NOT_JSON:
            self._builder.add_line(line)  # as raw_feed reads it: its own dead letter
        else:
            self._builder.add_record(now, msg, line)
        self.last_frame_ms = now

    def _inspect(self, msg: Any, now: int | None) -> None:
        if not isinstance(msg, dict):
            return  # not JSON, or not an object: dead-lettered with its batch
        channel = msg.get("channel")
        if type(channel) is not str or channel not in _KIND:  # not a data frame: few
            self._control(msg, channel)
            return
        key = route(msg)
        if key is None or now is None:
            return
        self.data_frames += 1
        if self._gap_from is not None and now > self._gap_from:
            # the first frame after a reconnect ends the gap (one stamped past its start:
            # a replay's clock can lag a new connection's first frames)
            self._gap(now, self._gap_from, now, "disconnect", None)
            self._gap_from = None
        if not self._watching:
            for stream in self._stream_keys():
                self.stale.watch(*stream, now)
            self._watching = True
        data = msg["data"]
        coin = str(key[1])
        venue = data.get("time") if isinstance(data, dict) else None
        if type(venue) is not int and not isinstance(venue, int):
            venue = None
        else:
            self.last_venue_ms = venue
        self.stale.frame(stream_kind(key), coin, now, venue)
        if now >= self.stale.due_ms and now - self._last_stale_check >= _STALE_CHECK_MS:
            self._check_stale(now)
        kind = _KIND[key[0]]
        if self.hub.wanted(kind):
            self.hub.publish(kind, coin, now, data)

    def _control(self, msg: dict[str, Any], channel: Any) -> None:
        """A frame that is not venue data: pong, subscription ack, error (or unknown)."""
        if channel == wire.PONG_CHANNEL:
            self._pong_deadline = None
            return
        if channel == wire.SUBSCRIPTION_RESPONSE:
            got = ack_key(msg)
            if got is not None and got[0] == "subscribe":
                self.acked.add(got[1])
            if len(self.acked) >= len(self.subs):
                self.backoff.reset()  # a connection that fully subscribed worked
                if self.last_error is not None:  # recovered: no longer the current error
                    self.recovered = f"{self.last_error} (recovered at {_utc_now()})"
                    self.last_error = None
            return
        if channel == wire.ERROR:
            self.server_errors += 1

    def _check_stale(self, now: int) -> None:
        self._last_stale_check = now
        absent = self.stale.absent(now)
        if absent != self.absent:  # a fact of this feed, not staleness: reported once
            self.absent = absent
            log.info("feed %s: channels not carried: %s (no frame for any coin)", self.url,
                     ", ".join(absent) or "none")
        for period in self.stale.check(now):
            self._gap(now, period.start_ms, period.end_ms, "stall", [period.coin])
            if period.end_ms is None:
                self.hub.set_stale(period.coin, True, now, period)
            else:
                self.stale_log.append(period)
                self.hub.set_stale(period.coin, False, now, period)
                log.info(
                    "feed: %s stale from %d to %d (%s)", period.coin, period.start_ms,
                    period.end_ms, ",".join(period.streams))

    # -- gap records -----------------------------------------------------------------------
    def _gap(self, now: int, start: int, end: int | None, reason: str,
             coins: list[str] | None) -> None:
        """Record a lotusGap line (docs/live.md): `end` None when the hole opens, then the
        same start with its end when it closes."""
        msg = gap_message(start, end, reason, coins)
        self._keep(now, orjson.dumps(msg), msg)

    def _open_gap(self) -> None:
        """A lost connection: the frames the venue sends until the next one are lost."""
        if self._gap_from is None and self.last_frame_ms is not None:
            self._gap_from = self.last_frame_ms
            self._gap(max(self.now_ms() or 0, self.last_frame_ms), self._gap_from, None,
                      "disconnect", None)
            self._flush()

    def _close_gaps(self) -> None:
        """On stop: the open holes end where this run's recording ends."""
        end = self.last_frame_ms
        if end is None:
            return
        if self._gap_from is not None:
            self._gap(end, self._gap_from, end, "disconnect", None)
            self._gap_from = None
        for period in self.stale.open.values():
            self._gap(end, period.start_ms, max(end, period.start_ms), "stall", [period.coin])

    # -- batches ---------------------------------------------------------------------------
    def _market_pace(self) -> bool:
        """Whether the unshipped frames came at the market's pace: always from the venue; in
        a replay, when their clock ran no faster than about twice the wall clock since the
        batch's first frame (a replay at speed max or N races ahead: there, frames are
        batched, a socket read or a step per batch costing what it costs)."""
        if not self._replay_clock:
            return True
        span_ms = (self.last_frame_ms or self._batch_ms0) - self._batch_ms0
        return span_ms <= 2_000 * (time.perf_counter() - self._batch_t0) + _BURST_SPAN_MS

    def _ship(self) -> None:
        """Hand the lines since the last hand-out to the score loop (validated with
        raw_feed's extraction code, dead letters to the fabric), ahead of the flush."""
        if not self._batch or self._batch_day is None:
            return
        lines, self._batch = self._batch, []
        chunk = self._builder.finish(empty=False)  # the scorer reads the tables it touches
        if chunk.dead and self._fabric is not None:
            rows = [{"line_no": d[0], "recv_ts_ms": d[1], "channel": d[2], "coin": d[3],
                     "reason": d[4], "detail": d[5], "raw": d[6]} for d in chunk.dead]
            self._fabric.append_dead_letters(self._batch_day, f"live:{self.url}", rows)
            self.dead_letters += len(rows)
        self._shipped = (self._batch_day, chunk.first_line + len(lines) - 1)
        if self.hub.wanted("batch"):
            t0 = time.monotonic()
            sent = dataclasses.replace(chunk, dead=[])
            self.hub.publish("batch", None, self.last_frame_ms or 0,
                             (self._batch_day, chunk.first_line, LineBlock.of(lines),
                              self._batch_t0, sent, time.perf_counter()))
            waited = time.monotonic() - t0  # the scorer's queue was full (backpressure)
            if waited > 0.01:
                self.waited_s += waited
                if self._pong_deadline is not None:  # the connection was not at fault
                    self._pong_deadline += waited

    def _flush(self) -> None:
        """Ship what is left, flush the recording, then say how far the file now holds the
        day (`durable`: the score loop stores and posts only what that covers)."""
        self._ship()
        mark, self._shipped = self._shipped, None
        publish = None
        if mark is not None and self.hub.wanted("durable"):
            publish = functools.partial(self.hub.publish, "durable", None,
                                        self.last_frame_ms or 0, mark)
        if self.recorder is not None:
            self.recorder.flush(after=publish)
        elif publish is not None:
            publish()

    def info(self) -> dict[str, Any]:
        t0, n0, rate = self._rate
        now = time.monotonic()
        if now - t0 >= 1.0:
            rate = (self.messages - n0) / (now - t0)
            self._rate = (now, self.messages, rate)
        lag = None
        if self.last_venue_ms is not None and self.last_frame_ms is not None:
            lag = self.last_frame_ms - self.last_venue_ms
        return {"url": self.url, "messages": self.messages, "msgs_per_s": round(rate, 1),
                "data_frames": self.data_frames, "connects": self.connects,
                "reconnects": self.reconnects, "resubscribes": self.resubscribes,
                "stale_coins": self.hub.stale_coins(), "stale_periods": len(self.stale_log),
                "last_frame_ms": self.last_frame_ms, "lag_ms": lag,
                "dead_letters": self.dead_letters, "server_errors": self.server_errors,
                "waited_s": round(self.waited_s, 1),
                "recorded_lines": self.recorder.lines if self.recorder else 0,
                "last_error": self.last_error, "recovered": self.recovered,
                "channels_absent": self.absent}

    def stale_periods(self) -> list[dict[str, Any]]:
        return [asdict(p) for p in [*self.stale_log, *self.stale.open.values()]]

