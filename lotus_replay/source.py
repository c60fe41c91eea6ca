"""The recorded frames of a feed directory, in receive order, with where each one goes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import orjson

from lotus_core.feed.gzlines import open_lines
from lotus_core.feed.recordings import list_days, require_recording
from lotus_core.feed.wire import CONTROL_CHANNELS, Key, route, split_record


class Frame(NamedTuple):
    """A tuple, not a frozen dataclass: one is made per served frame."""

    recv_ts_ms: int
    text: str
    key: Key | None      # None: a data frame that routes to no single subscription


_HEAD = re.compile(r'\{"channel":"(bbo|activeAssetCtx|l2Book|trades)",'
                   r'"data":(\[?)\{"coin":"([^"\\]+)",')


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
    tail = text[i - 1:]
    if tail in (',"fast":true}}', ',"fast":false}}'):
        return ("l2Book", coin, tail == ',"fast":true}}')
    return None


def days_between(feed_dir: Path, start: str | None, end: str | None) -> list[str]:
    days = list_days(feed_dir)
    return [d for d in days if (start is None or d >= start) and (end is None or d <= end)]


def frames(feed_dir: Path, days: list[str]) -> Iterator[Frame]:
    """Every recorded data frame of `days`. The venue's own greeting, acks, pongs and errors
    are left out: the server speaks those itself to each client."""
    for day in days:
        reader, _ = open_lines(require_recording(feed_dir, day))
        with reader:
            for line in reader:
                rec = split_record(line)
                if rec is None:
                    continue
                recv, text = rec
                key = head_route(text)
                if key is not None:
                    yield Frame(recv, text, key)
                    continue
                if not text.startswith("{"):
                    if text.startswith("["):
                        yield Frame(recv, text, None)
                    continue  # a recorded plain-text frame (the greeting)
                try:
                    msg = orjson.loads(text)
                except orjson.JSONDecodeError:
                    yield Frame(recv, text, None)
                    continue
                if isinstance(msg, dict) and msg.get("channel") in CONTROL_CHANNELS:
                    continue
                yield Frame(recv, text, route(msg))
