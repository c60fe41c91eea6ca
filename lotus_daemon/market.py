"""The in-process market hub: how the daemon's loops share the live market.

The feed loop publishes; any loop (score, and later `dm`, `tr`) subscribes. Each
subscriber gets its own bounded queue, filtered by kind and coin, so a slow consumer never
blocks the feed (when its queue is full the oldest event is dropped and counted in
`Subscription.dropped`). The hub also keeps the latest value of each kind per coin and
the coin's stale flag, for loops that only need "the book now".

Kinds: `book` (an l2Book snapshot: dict with coin, time, levels, fast), `bbo`, `trades`
(the frame's list of trades), `ctx` (activeAssetCtx data), `candle`, `row` (a finished
MicroTape row: dict of every MICROTAPE_COLUMNS value), `window` (a live scored window),
`batch` (recording lines: (day, first line number, lines, perf_counter() when the first
arrived), for the score loop; None when the feed loop ends), `stale`
(a coin's stale flag changed; data = StalePeriod), `tr_event` (the score loop's step: a
list of (position, event) of the Trader's market events that became final, the very
`Book` / `Trade` / `AssetCtx` / row objects the nightly replay builds; see HubTraderSource).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
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
                 maxsize: int) -> None:
        self.hub, self.kinds, self.coins = hub, kinds, coins
        self._q: queue.Queue[MarketEvent] = queue.Queue(maxsize)
        self.dropped = 0

    def wants(self, ev: MarketEvent) -> bool:
        return ev.kind in self.kinds and (self.coins is None or ev.coin is None
                                          or ev.coin in self.coins)

    def put(self, ev: MarketEvent) -> None:
        while True:
            try:
                self._q.put_nowait(ev)
                return
            except queue.Full:
                try:
                    self._q.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def get(self, timeout: float | None = None) -> MarketEvent | None:
        try:
            return self._q.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self, limit: int = 10_000) -> list[MarketEvent]:
        out: list[MarketEvent] = []
        while len(out) < limit:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                break
        return out

    def close(self) -> None:
        self.hub.unsubscribe(self)


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
                  maxsize: int = 100_000) -> Subscription:
        kinds = frozenset(kinds)
        unknown = kinds - KINDS
        if unknown:
            raise ValueError(f"unknown market event kinds {sorted(unknown)}; known {sorted(KINDS)}")
        sub = Subscription(self, kinds, None if coins is None else frozenset(coins), maxsize)
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
