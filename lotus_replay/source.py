"""The recorded frames of a feed directory, in receive order, with where each one goes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import orjson

from lotus_core.feed.gzlines import open_lines
from lotus_core.feed.recordings import list_days, require_recording
from lotus_core.venues.hyperliquid.wire import CONTROL_CHANNELS, Key, route, split_record


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


_HEAD = re.compile(r'\{"channel":"(bbo|activeAssetCtx|l2Book|trades)",'
                   r'"data":(\[?)\{"coin":"([^"\\]+)",')
_FAST_TAILS = {',"fast":true}}': True, ',"fast":false}}': False}
_RECORD = re.compile(rb'\{"recv_ts_ms":([0-9]+),"msg":(\{"channel":"(bbo|activeAssetCtx|l2Book|'
                     rb'trades)","data":(\[?)\{"coin":"([^"\\]+)",)')
_FAST_TAILS_B = {b',"fast":true}}': True, b',"fast":false}}': False}


def head_route(text: str) -> Key | None:
    """The subscription of a data frame laid out as the venue sends it (channel, then data
    opening with its coin), read from its head; None: not that layout (ask `route` on the
    parsed frame). A book's `fast` key is read only where it is the data's last key and
    the only key of that name. Saves the server a full parse of each frame it routes."""
    m = _HEAD.match(text)
    if m is None or not text.endswith("}"):
        return None
    channel, bracket, coin = m.groups()
    if (channel == "trades") != (bracket == "["):
        return None
    if channel != "l2Book":
        return (channel, coin)
    i = text.find('"fast"')  # the first: if it is also the last key, it is the only one
    if i < 0:
        return ("l2Book", coin, False)
    fast = _FAST_TAILS.get(text[i - 1:])
    return None if fast is None else ("l2Book", coin, fast)


def record_route(line: bytes) -> tuple[int, bytes, Key] | None:
    """(recv_ts_ms, message bytes, `head_route` of the message) of a recording line Lotus
    wrote (`{"recv_ts_ms":N,"msg":<message>}`) whose message is ASCII and laid out as the
    venue sends it: `split_record` and `head_route` in one match on the line's bytes,
    with no decode. None: ask them (tests/replay: the same frames either way)."""
    m = _RECORD.match(line)
    if m is None:
        return None
    body = line[m.start(2):].rstrip()
    if not body.endswith(b"}"):
        return None
    raw = body[:-1].rstrip()  # the record's closing brace off, as split_record
    if not raw.endswith(b"}") or not raw.isascii():
        return None
    recv, _, channel, bracket, coin = m.groups()
    if (channel == b"trades") != (bracket == b"["):
        return None
    if channel != b"l2Book":
        return int(recv), raw, (channel.decode(), coin.decode())
    i = raw.find(b'"fast"')
    if i < 0:
        return int(recv), raw, ("l2Book", coin.decode(), False)
    fast = _FAST_TAILS_B.get(raw[i - 1:])
    return None if fast is None else (int(recv), raw, ("l2Book", coin.decode(), fast))


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
