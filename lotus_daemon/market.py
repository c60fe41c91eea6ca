"""The in-process market hub: how the daemon's loops share the live market.

The feed loop publishes; any loop (score, and later `dm`, `tr`) subscribes. Each
subscriber gets its own queue, filtered by kind and coin, of one of two kinds:

- bounded and lossy (`maxsize`): a slow consumer never blocks the feed; when the queue is
  full the oldest event is dropped and counted in `Subscription.dropped`;
- lossless with backpressure (`capacity`, in `weigh` units: the score loop's queue counts
  recording lines): a publisher waits while the queue holds `capacity` or more, so a
  scorer slower than a max-speed replay slows the feed's reading of the socket (and the
  replay server behind it) instead of piling batches up in memory. A consumer that takes
  nothing for `stall_s` (dead, or restarting after a failure) stops the waiting until it
  takes again: the feed keeps reading and recording, and the queue grows as before.

The hub also keeps the latest value of each kind per coin and the coin's stale flag, for
loops that only need "the book now".

Kinds: `book` (an l2Book snapshot: dict with coin, time, levels, fast), `bbo`, `trades`
(the frame's list of trades), `ctx` (activeAssetCtx data), `candle`, `row` (a finished
MicroTape row: dict of every MICROTAPE_COLUMNS value), `window` (a live scored window),
`batch` (recording lines: (day, first line number, the lines (a `LineBlock` from the feed
loop, or a list), perf_counter() when the first arrived, their extraction, perf_counter()
when handed out), for the score loop; None when
the feed loop ends), `durable` ((day, last line) the recording holds), `stale`
(a coin's stale flag changed; data = StalePeriod), `tr_event` (the score loop's step: a
list of (position, event) of the Trader's market events that became final, the very
`Book` / `Trade` / `AssetCtx` / row objects the nightly replay builds; see HubTraderSource).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

KINDS = frozenset({"book", "bbo", "trades", "ctx", "candle", "row", "window", "batch",
                   "durable", "stale", "tr_event"})


@dataclass(frozen=True)
class MarketEvent:
    kind: str
    coin: str | None          # None for events about no single coin (a batch of lines)
    recv_ts_ms: int           # the client's clock when the data arrived
    data: Any
    stale: bool               # the coin's stale flag when the event was published


class Subscription:
    """A consumer's queue. `get(timeout)` returns the next event or None."""

    def __init__(self, hub: MarketHub, kinds: frozenset[str], coins: frozenset[str] | None,
                 maxsize: int, capacity: int | None = None,
                 weigh: Callable[[MarketEvent], int] | None = None, stall_s: float = 10.0
                 ) -> None:
        self.hub, self.kinds, self.coins = hub, kinds, coins
        self.maxsize, self.capacity, self.stall_s = maxsize, capacity, stall_s
        self._weigh = weigh or (lambda ev: 1)
        self._q: deque[tuple[MarketEvent, int]] = deque()
        self._cond = threading.Condition()
        self._weight = 0
        self._taken_at = time.monotonic()
        self._closed = False
        self.dropped = 0
        self.waited_s = 0.0
        """Seconds publishers spent waiting for room (capacity): the backpressure's cost."""
        self.direct: Callable[[MarketEvent], bool] | None = None
        """The consumer's own hand-off, tried first when nothing is queued (it returns
        whether it took the event): the score process's pipe, written by the publisher's
        thread, saves the wake of a forwarding thread per event."""

    def wants(self, ev: MarketEvent) -> bool:
        return ev.kind in self.kinds and (self.coins is None or ev.coin is None
                                          or ev.coin in self.coins)

    def put(self, ev: MarketEvent) -> None:
        if self.direct is not None and not self._q and self.direct(ev):
            return
        w = self._weigh(ev)
        with self._cond:
            if self.capacity is not None and self._weight >= self.capacity:
                t0 = time.monotonic()
                while (self._weight >= self.capacity and not self._closed
                       and time.monotonic() - self._taken_at < self.stall_s):
                    self._cond.wait(0.05)
                self.waited_s += time.monotonic() - t0
            elif self.maxsize > 0:
                while len(self._q) >= self.maxsize:
                    self._weight -= self._q.popleft()[1]
                    self.dropped += 1
            self._q.append((ev, w))
            self._weight += w
            self._cond.notify_all()

    def _take(self) -> MarketEvent:
        ev, w = self._q.popleft()
        self._weight -= w
        self._taken_at = time.monotonic()
        self._cond.notify_all()
        return ev

    def get(self, timeout: float | None = None) -> MarketEvent | None:
        with self._cond:
            if not self._q:
                self._cond.wait(timeout)
            if not self._q:
                self._taken_at = time.monotonic()  # waiting for events is not stalling
                return None
            return self._take()

    def wait(self, timeout: float) -> bool:
        """Wait (at most `timeout`) until an event is queued, without taking it."""
        with self._cond:
            if not self._q:
                self._cond.wait(timeout)
            if not self._q:
                self._taken_at = time.monotonic()  # waiting for events is not stalling
            return bool(self._q)

    def drain(self, limit: int = 10_000) -> list[MarketEvent]:
        with self._cond:
            return [self._take() for _ in range(min(limit, len(self._q)))]

    def pending(self) -> int:
        """The queue's weight now (events, or `weigh` units)."""
        return self._weight

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.hub.unsubscribe(self)


def batch_lines(ev: MarketEvent) -> int:
    """A score queue's weight of an event: a batch's recording lines (other events: 1)."""
    if ev.kind == "batch" and ev.data is not None:
        return max(1, len(ev.data[2]))
    return 1


class MarketHub:
    """Thread-safe publish/subscribe of market events, plus the latest value per coin."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: list[Subscription] = []
        self._wanted: frozenset[str] = frozenset()  # the kinds someone listens for
        self._latest: dict[tuple[str, str], MarketEvent] = {}
        self._stale: set[str] = set()
        self.published = 0
        self.has_feed = False     # a feed loop publishes here (it ends with a `batch` None)

    def subscribe(self, kinds: Iterable[str], coins: Iterable[str] | None = None,
                  maxsize: int = 100_000, *, capacity: int | None = None,
                  weigh: Callable[[MarketEvent], int] | None = None) -> Subscription:
        """`maxsize` (0: unbounded) drops the oldest when full; `capacity` makes the queue
        lossless and its publishers wait while it holds that much (module docstring)."""
        kinds = frozenset(kinds)
        unknown = kinds - KINDS
        if unknown:
            raise ValueError(f"unknown market event kinds {sorted(unknown)}; known {sorted(KINDS)}")
        sub = Subscription(self, kinds, None if coins is None else frozenset(coins), maxsize,
                           capacity, weigh)
        with self._lock:
            self._subs.append(sub)
            self._wanted = self._wanted | kinds
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)
                self._wanted = frozenset().union(*(s.kinds for s in self._subs))

    def wanted(self, kind: str) -> bool:
        """Whether anyone listens for `kind` (lets the publisher skip building events)."""
        return kind in self._wanted

    def publish(self, kind: str, coin: str | None, recv_ts_ms: int, data: Any) -> None:
        ev = MarketEvent(kind, coin, recv_ts_ms, data, coin in self._stale)
        with self._lock:
            if coin is not None and kind in ("book", "bbo", "ctx", "candle", "row"):
                self._latest[(kind, coin)] = ev
            subs = [s for s in self._subs if s.wants(ev)]
            self.published += 1
        for s in subs:
            s.put(ev)

    def set_stale(self, coin: str, stale: bool, recv_ts_ms: int, period: Any = None) -> None:
        with self._lock:
            changed = (coin in self._stale) != stale
            if stale:
                self._stale.add(coin)
            else:
                self._stale.discard(coin)
        if changed:
            self.publish("stale", coin, recv_ts_ms, period)

    def is_stale(self, coin: str) -> bool:
        return coin in self._stale

    def stale_coins(self) -> list[str]:
        return sorted(self._stale)

    def latest(self, kind: str, coin: str) -> MarketEvent | None:
        with self._lock:
            return self._latest.get((kind, coin))


class HubRows:
    """A `RowSource` over the hub: finished MicroTape rows, handed out up to a time.

    The score loop publishes each row once it is final (and the parity test proves those
    rows equal `microtape_frames`), so a loop that asks for the rows up to an alpha's time
    gets what the nightly replay (`lotus_core.dm.replay.RowFeed`) hands out for it.
    Subscribe at construction, before the feed starts, so that no row is missed.
    """

    def __init__(self, hub: MarketHub) -> None:
        self._sub = hub.subscribe({"row"})
        self._held: list[dict[str, Any]] = []

    def until(self, ts_ms: int) -> Iterable[dict[str, Any]]:
        """The rows with ts_ms <= ts_ms not handed out yet, in (ts_ms, coin) order."""
        self._held.extend(ev.data for ev in self._sub.drain())
        self._held.sort(key=lambda r: (int(r["ts_ms"]), str(r["coin"])))
        cut = 0
        while cut < len(self._held) and int(self._held[cut]["ts_ms"]) <= ts_ms:
            cut += 1
        out, self._held = self._held[:cut], self._held[cut:]
        return out


class HubTraderSource:
    """The trader loop's `source(start_pos)` in the daemon: the market events the score loop
    found final (`tr_event`), with increasing positions, from after `start_pos`.

    The events are those `lotus_core.trader.replay.market_events` gives for the recorded
    day, in its order, built by the same code from the LiveEngine's parse of the day so
    far: there is no second parser of books, trades or contexts. Positions are the event's
    place in its day's stream (`lotus_core.live.engine.market_base`), so after a restart
    (the score loop re-derives the day from its first line) what the Trader already applied
    is skipped. The queue is unbounded: dropping an event would change the fills. When
    nothing comes for `idle_sec` it yields (last position, None) so the loop can poll its
    inbox and see a stop; such a tick must not move the Trader's clock (`market_clock`).
    Subscribe at construction, before the score loop starts, so that no event is missed.
    """

    def __init__(self, hub: MarketHub, idle_sec: float = 0.2) -> None:
        self._sub = hub.subscribe({"tr_event"}, maxsize=0)
        self.idle_sec = idle_sec

    def __call__(self, start_pos: int) -> Iterator[tuple[int, Any]]:
        last = start_pos
        while True:
            ev = self._sub.get(timeout=self.idle_sec)
            if ev is None:
                yield last, None
                continue
            for pos, event in ev.data:
                if pos > last:
                    last = pos
                    yield pos, event

    def close(self) -> None:
        self._sub.close()
