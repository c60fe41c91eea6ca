"""Per-subscription staleness: a stream that sends nothing, or whose venue `time` stops
advancing, for longer than its limit marks its coin stale until it recovers.

A channel's clock starts at its first frame (for any coin): a channel no coin ever
delivered is not a stale stream but one the feed does not carry (a capture without
activeAssetCtx or candles), reported by `absent` once `ABSENT_AFTER_MS` have passed since
it was watched. A coin's stream of a carried channel that never delivered, or that
delivered and stopped, is stale.

All times are the client's clock in ms (the receipt clock live, the recording's clock in a
replay), so a replay at any speed gives the same stale periods.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_NEVER = 1 << 62  # no stream watched yet: nothing is due until a watch or a frame

SubKey = tuple[str, str]
"""(subscription type as in feed.channels, coin)."""

ABSENT_AFTER_MS = 60_000
"""A watched channel with no frame for any coin this long after it was watched is reported
as not carried by the feed (a fact of the feed, not staleness: it never delivered)."""


@dataclass
class StalePeriod:
    coin: str
    start_ms: int
    end_ms: int | None = None
    streams: list[str] = field(default_factory=list)


@dataclass
class _Stream:
    """One watched subscription; its times stay None until its channel delivers."""

    limit_ms: int
    last_arrival: int | None = None
    last_time: int | None = None
    last_advance: int | None = None


class StaleTracker:
    def __init__(self, limits_s: dict[str, float]) -> None:
        self.limits_ms = {k: int(v * 1000) for k, v in limits_s.items()}
        self._streams: dict[SubKey, _Stream] = {}
        self.open: dict[str, StalePeriod] = {}
        self.closed: list[StalePeriod] = []
        self._quiet_until: int | None = None
        """While no period is open: no stream can pass its limit before this (frames only
        push a stream's limit later), so `check` has nothing to do until then."""
        self.watched: dict[str, int] = {}
        """Channel -> when it was first watched."""
        self.carried: set[str] = set()
        """Channels that delivered a frame (for any coin)."""
        self.due_ms = 0
        """Before this time neither `check` nor `absent` can give anything new (set by
        `check`; 0 after a watch or a channel's first frame): a caller that asks on every
        frame's clock skips both until then."""

    def watch(self, kind: str, coin: str, now_ms: int) -> None:
        """Start watching a subscription (e.g. on subscribe). Silence counts from now if its
        channel already delivered, else from the channel's first frame."""
        self.watched.setdefault(kind, now_ms)
        limit = self.limits_ms.get(kind, 0)
        if limit > 0 and (kind, coin) not in self._streams:
            started = now_ms if kind in self.carried else None
            self._streams[(kind, coin)] = _Stream(limit, started, None, started)
            self._quiet_until = None
            self.due_ms = 0

    def frame(self, kind: str, coin: str, now_ms: int, venue_time: int | None) -> None:
        if kind not in self.carried:
            self._start_channel(kind, now_ms)
        s = self._streams.get((kind, coin))
        if s is None:
            return
        s.last_arrival = now_ms
        if venue_time is None or s.last_time is None or venue_time > s.last_time:
            s.last_advance = now_ms
            s.last_time = venue_time if venue_time is not None else s.last_time

    def _start_channel(self, kind: str, now_ms: int) -> None:
        """A channel's first frame: its streams' silence counts from now, for every coin."""
        self.carried.add(kind)
        for (k, _), s in self._streams.items():
            if k == kind and s.last_arrival is None:
                s.last_arrival = s.last_advance = now_ms
        self._quiet_until = None
        self.due_ms = 0

    def absent(self, now_ms: int) -> list[str]:
        """Watched channels that no coin delivered within `ABSENT_AFTER_MS` of the watch."""
        if self.watched.keys() <= self.carried:  # asked every 100 ms of feed time
            return []
        return sorted(k for k, t in self.watched.items()
                      if k not in self.carried and now_ms - t >= ABSENT_AFTER_MS)

    def stale_streams(self, coin: str, now_ms: int) -> list[str]:
        out = []
        for (kind, c), s in self._streams.items():
            if c != coin or s.last_arrival is None:  # its channel never delivered
                continue
            quiet = now_ms - (s.last_arrival if s.last_arrival is not None else now_ms)
            frozen = now_ms - (s.last_advance if s.last_advance is not None else now_ms)
            if quiet > s.limit_ms or frozen > s.limit_ms:
                out.append(kind)
        return sorted(out)

    def check(self, now_ms: int) -> list[StalePeriod]:
        """Open and close stale periods as of `now_ms`; returns the periods that changed.
        Called on every frame's clock: while nothing is stale it is one comparison."""
        if not self.open and self._quiet_until is not None and now_ms <= self._quiet_until:
            self._set_due(now_ms)
            return []
        changed = []
        for coin in sorted({c for _, c in self._streams}):
            bad = self.stale_streams(coin, now_ms)
            if bad and coin not in self.open:
                # the period started when the first stream went past its limit
                start = min(self._since(coin, k) for k in bad)
                period = StalePeriod(coin, start, None, bad)
                self.open[coin] = period
                changed.append(period)
            elif not bad and coin in self.open:
                period = self.open.pop(coin)
                period.end_ms = now_ms
                self.closed.append(period)
                changed.append(period)
        self._quiet_until = None if self.open else min(
            (self._since(c, k) for (k, c), s in self._streams.items()
             if s.last_arrival is not None), default=None)
        self._set_due(now_ms)
        return changed

    def _set_due(self, now_ms: int) -> None:
        """`due_ms` after a check at `now_ms`: while a period is open, now (it may close at
        any frame); else the first time a stream can pass its limit (frames only push that
        later) or a watched channel's `absent` deadline, whichever comes first."""
        if self.open:
            self.due_ms = 0
            return
        times = [t + ABSENT_AFTER_MS for k, t in self.watched.items()
                 if k not in self.carried and t + ABSENT_AFTER_MS > now_ms]
        if self._quiet_until is not None:
            times.append(self._quiet_until + 1)
        self.due_ms = min(times, default=_NEVER)

    def _since(self, coin: str, kind: str) -> int:
        s = self._streams[(kind, coin)]
        last = min(x for x in (s.last_arrival, s.last_advance) if x is not None)
        return last + s.limit_ms

    def is_stale(self, coin: str) -> bool:
        return coin in self.open
