"""The recorded frames of a feed directory, in receive order, with where each one goes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import orjson

from lotus_core.feed.gzlines import open_lines
from lotus_core.feed.recordings import list_days, require_recording
from lotus_core.venues.hyperliquid.wire import (
    CONTROL_CHANNELS,
    Key,
    head_route,
    record_route,
    route,
    split_record,
)


class Frame(NamedTuple):
    """A tuple, not a frozen dataclass: one is made per served frame."""

    recv_ts_ms: int
    data: bytes          # the whole websocket frame (`ws_frame`): header and UTF-8 text
    key: Key | None      # None: a data frame that routes to no single subscription


def ws_frame(data: bytes) -> bytes:
    """One unfragmented, unmasked text frame of the UTF-8 `data` (RFC 6455 5.2: FIN,
    opcode 1, no extension), the bytes websockets' `send_text` writes (tests/replay)."""
    n = len(data)
    return (_SHORT[n] if n < 126 else
            b"\x81\x7e" + n.to_bytes(2) if n < 65536 else b"\x81\x7f" + n.to_bytes(8)) + data


_SHORT = [bytes((0x81, n)) for n in range(126)]


def ws_payload(frame: bytes) -> bytes:
    """The text of a `ws_frame` (what websockets' own send path is handed)."""
    n = frame[1] & 0x7F
    return frame[2 if n < 126 else 4 if n == 126 else 10:]


def days_between(feed_dir: Path, start: str | None, end: str | None) -> list[str]:
    days = list_days(feed_dir)
    return [d for d in days if (start is None or d >= start) and (end is None or d <= end)]


def frames(feed_dir: Path, days: list[str]) -> Iterator[Frame]:
    """Every recorded data frame of `days`, as its websocket frame. The venue's own
    greeting, acks, pongs and errors are left out: the server speaks those itself to
    each client."""
    for day in days:
        reader, _ = open_lines(require_recording(feed_dir, day))
        with reader:
            for line in reader:
                got = record_route(line)
                if got is not None:
                    yield Frame(got[0], ws_frame(got[1]), got[2])
                    continue
                rec = split_record(line)
                if rec is None:
                    continue
                recv, text = rec
                key = head_route(text)
                if key is not None:
                    yield Frame(recv, ws_frame(text.encode()), key)
                    continue
                if not text.startswith("{"):
                    if text.startswith("["):
                        yield Frame(recv, ws_frame(text.encode()), None)
                    continue  # a recorded plain-text frame (the greeting)
                try:
                    msg = orjson.loads(text)
                except orjson.JSONDecodeError:
                    yield Frame(recv, ws_frame(text.encode()), None)
                    continue
                if isinstance(msg, dict) and msg.get("channel") in CONTROL_CHANNELS:
                    continue
                yield Frame(recv, ws_frame(text.encode()), route(msg))
