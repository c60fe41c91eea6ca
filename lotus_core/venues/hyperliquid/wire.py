"""The Hyperliquid websocket contract as pure functions: channel names, subscriptions, acks,
errors, routing, and the recording line a frame is kept as.

Shared by the replay server (which must answer exactly as the venue does) and the feed
client (which must match acks and route pushes the same way). See
shared/contracts/hyperliquid-ws.md. `replayClock` is Lotus' own opt-in subscription: the
replay server then sends `{"channel":"replayClock","data":{"time":<recorded recv_ts_ms>}}`
before frames whose recorded receive time changed, so a client can stamp frames with the
recording's clock (that is how a replay at `--speed max` reproduces the nightly tables). At
`--speed max` (no faults) it sends one clock frame per run of frames instead,
`{"channel":"replayClock","data":{"time":<first>,"times":[<t1>, ..., <tn>]}}`: the next n
messages are that run's frames and ti is the i-th one's receive time (nothing else is sent
between them).
"""

from __future__ import annotations

import json
import re
from typing import Any

GREETING = "Websocket connection established."
PONG = '{"channel":"pong"}'
REPLAY_CLOCK = "replayClock"
L2BOOK, TRADES, BBO, ASSET_CTX, CANDLE = "l2Book", "trades", "bbo", "activeAssetCtx", "candle"
DATA_TYPES = (L2BOOK, TRADES, BBO, ASSET_CTX, CANDLE)
"""The data channels Lotus subscribes to: a subscription's `type`, a push's `channel`."""
SUBSCRIPTION_RESPONSE, PONG_CHANNEL, ERROR = "subscriptionResponse", "pong", "error"
CONTROL_CHANNELS = (SUBSCRIPTION_RESPONSE, PONG_CHANNEL, ERROR)
"""The venue's replies that carry no market data, in a fixed order (the feed's per-line kind
codes index it)."""
L2BOOK_FAST = "l2BookFast"
"""The feed.channels name of the book subscribed with `fast` (its own stream)."""
SPOT_ASSET_CTX = "activeSpotAssetCtx"
"""What an activeAssetCtx subscription to a spot coin pushes instead (Lotus reads perps only)."""
_N_SIG_FIGS = (2, 3, 4, 5, None)
CANDLE_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d",
                    "1w", "1M")

Key = tuple[Any, ...]
"""A subscription's identity: (type, coin[, fast | interval]); ("replayClock",)."""


class SubscriptionError(ValueError):
    """A subscription the venue would refuse (`Invalid subscription: ...`)."""


def normalise(sub: Any) -> tuple[Key, dict[str, Any]]:
    """(key, the venue's normalised echo) of a subscription object; SubscriptionError if
    the venue would refuse it."""
    if not isinstance(sub, dict):
        raise SubscriptionError("subscription must be an object")
    kind = sub.get("type")
    if kind == REPLAY_CLOCK:
        return (REPLAY_CLOCK,), {"type": REPLAY_CLOCK}
    coin = sub.get("coin")
    if kind not in DATA_TYPES or not isinstance(coin, str) or not coin:
        raise SubscriptionError(f"unknown type {kind!r} or missing coin")
    if kind == "l2Book":
        sig, mant = sub.get("nSigFigs"), sub.get("mantissa")
        if sig not in _N_SIG_FIGS or (mant is not None and (sig != 5 or mant not in (2, 5))):
            raise SubscriptionError("bad nSigFigs / mantissa")
        fast = sub.get("fast") is True
        echo: dict[str, Any] = {"type": "l2Book", "coin": coin, "nSigFigs": sig,
                                "mantissa": mant}
        if fast:
            echo["fast"] = True
        return ("l2Book", coin, fast), echo
    if kind == "candle":
        interval = sub.get("interval")
        if interval not in CANDLE_INTERVALS:
            raise SubscriptionError(f"bad interval {interval!r}")
        return ("candle", coin, interval), {"type": "candle", "coin": coin, "interval": interval}
    return (kind, coin), {"type": kind, "coin": coin}


def ack(method: str, echo: dict[str, Any]) -> str:
    return json.dumps({"channel": "subscriptionResponse",
                       "data": {"method": method, "subscription": echo}}, separators=(",", ":"))


def error(prefix: str, detail: str) -> str:
    return json.dumps({"channel": "error", "data": f"{prefix}{detail}"}, separators=(",", ":"))


def ack_key(msg: Any) -> tuple[str, Key] | None:
    """(method, key) of a subscriptionResponse frame (matched on type + coin + interval/fast,
    never by equality with what was sent), else None."""
    if not isinstance(msg, dict) or msg.get("channel") != "subscriptionResponse":
        return None
    data = msg.get("data")
    if not isinstance(data, dict):
        return None
    try:
        key, _ = normalise(data.get("subscription"))
    except SubscriptionError:
        return None
    return str(data.get("method")), key


def route(msg: Any) -> Key | None:
    """The subscription a pushed data frame belongs to (None: not routable to one)."""
    if not isinstance(msg, dict):
        return None
    channel, data = msg.get("channel"), msg.get("data")
    if data is None:
        return None
    try:
        if channel == "l2Book":
            return ("l2Book", data["coin"], data.get("fast") is True)
        if channel == "trades":
            return ("trades", data[0]["coin"])
        if channel in ("bbo", "activeAssetCtx"):
            return (channel, data["coin"])
        if channel == "candle":
            return ("candle", data["s"], data["i"])
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return None


_LINE = re.compile(rb'^\{\s*"recv_ts_ms"\s*:\s*(-?\d+)\s*,\s*"msg"\s*:\s*(.*)\}\s*$', re.S)


_HEAD = b'{"recv_ts_ms":'
_MSG = b',"msg":'


def _split_plain(line: bytes) -> tuple[bytes, bytes] | None:
    """What `_LINE` captures, for a line written the way Lotus writes them (no spaces
    around the keys): found with two `find`s instead of the regex's backtracking (the
    replay server splits every line it serves). None: ask the regex."""
    if not line.startswith(_HEAD):
        return None
    j = line.find(_MSG, 14, 40)
    digits = line[14:j]
    if j < 0 or not (digits.isdigit() or (digits[:1] == b"-" and digits[1:].isdigit())):
        return None
    body = line[j + 7:].rstrip()
    if not body.endswith(b"}"):
        return None
    return digits, body[:-1]


def split_record(line: bytes) -> tuple[int, str] | None:
    """(recv_ts_ms, the message's text exactly as recorded) of a recording line; a recorded
    plain-text frame comes back as its text. None for a line that is not a record."""
    got = _split_plain(line)
    if got is None:
        m = _LINE.match(line)
        got = None if m is None else (m.group(1), m.group(2))
    if got is not None:
        raw = got[1].rstrip()
        if raw.startswith(b'"'):
            try:
                text = json.loads(raw)
            except ValueError:
                return None
            return (int(got[0]), text) if isinstance(text, str) else None
        return int(got[0]), raw.decode("utf-8", errors="replace")
    try:
        rec = json.loads(line)
        recv, msg = rec["recv_ts_ms"], rec["msg"]
    except (ValueError, KeyError, TypeError):
        return None
    if type(recv) is not int:
        return None
    return recv, msg if isinstance(msg, str) else json.dumps(msg, separators=(",", ":"))


_LINE_HEAD, _LINE_MSG, _LINE_END = b'{"recv_ts_ms":', b',"msg":', b"}\n"


def record_line(recv_ts_ms: int, text: str | bytes, is_json: bool = False) -> bytes:
    """One recording line for a frame received as `text`: a JSON frame is kept verbatim
    (re-serialised only if it spans lines), anything else is stored as a JSON string.
    `is_json`: the caller already parsed `text` as JSON (orjson, stricter than `json`;
    from bytes, it also proved them UTF-8), so it is not parsed again."""
    if is_json:
        raw = text if isinstance(text, bytes) else text.encode()
        if 10 not in raw and 13 not in raw:  # no \n, no \r (an int: memchr, 3x faster)
            return b"".join((_LINE_HEAD, b"%d" % recv_ts_ms, _LINE_MSG, raw, _LINE_END))
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        json.loads(text)
        body = text if "\n" not in text and "\r" not in text else json.dumps(
            json.loads(text), separators=(",", ":"))
    except ValueError:
        body = json.dumps(text)
    return f'{{"recv_ts_ms":{int(recv_ts_ms)},"msg":{body}}}\n'.encode()


_ROUTED = "|".join((BBO, ASSET_CTX, L2BOOK, TRADES))  # the channels `head_route` reads
_FRAME_HEAD = re.compile(r'\{"channel":"(' + _ROUTED + r')",'
                         r'"data":(\[?)\{"coin":"([^"\\]+)",')
_FAST_TAILS = {',"fast":true}}': True, ',"fast":false}}': False}
_RECORD_HEAD = re.compile(rb'\{"recv_ts_ms":([0-9]+),"msg":(\{"channel":"('
                          + _ROUTED.encode() + rb')","data":(\[?)\{"coin":"([^"\\]+)",)')
_FAST_TAILS_B = {b',"fast":true}}': True, b',"fast":false}}': False}


def head_route(text: str) -> Key | None:
    """The subscription of a data frame laid out as the venue sends it (channel, then data
    opening with its coin), read from its head; None: not that layout (ask `route` on the
    parsed frame). A book's `fast` key is read only where it is the data's last key and
    the only key of that name. Saves the server a full parse of each frame it routes."""
    m = _FRAME_HEAD.match(text)
    if m is None or not text.endswith("}"):
        return None
    channel, bracket, coin = m.groups()
    if (channel == TRADES) != (bracket == "["):
        return None
    if channel != L2BOOK:
        return (channel, coin)
    i = text.find('"fast"')  # the first: if it is also the last key, it is the only one
    if i < 0:
        return (L2BOOK, coin, False)
    fast = _FAST_TAILS.get(text[i - 1:])
    return None if fast is None else (L2BOOK, coin, fast)


def record_route(line: bytes) -> tuple[int, bytes, Key] | None:
    """(recv_ts_ms, message bytes, `head_route` of the message) of a recording line Lotus
    wrote (`{"recv_ts_ms":N,"msg":<message>}`) whose message is ASCII and laid out as the
    venue sends it: `split_record` and `head_route` in one match on the line's bytes,
    with no decode. None: ask them (tests/replay: the same frames either way)."""
    m = _RECORD_HEAD.match(line)
    if m is None:
        return None
    body = line[m.start(2):].rstrip()
    if not body.endswith(b"}"):
        return None
    raw = body[:-1].rstrip()  # the record's closing brace off, as split_record
    if not raw.endswith(b"}") or not raw.isascii():
        return None
    recv, _, channel, bracket, coin = m.groups()
    if (channel == TRADES.encode()) != (bracket == b"["):
        return None
    if channel != L2BOOK.encode():
        return int(recv), raw, (channel.decode(), coin.decode())
    i = raw.find(b'"fast"')
    if i < 0:
        return int(recv), raw, (L2BOOK, coin.decode(), False)
    fast = _FAST_TAILS_B.get(raw[i - 1:])
    return None if fast is None else (int(recv), raw, (L2BOOK, coin.decode(), fast))


def subscriptions(coins: Any, channels: Any, candle_interval: str,
                  replay_clock: bool = False) -> list[dict[str, Any]]:
    """The subscription objects of `coins` x `channels` (the feed.channels names: a data
    channel, or `l2BookFast`: the book with `fast`), in a fixed order (resubscribing sends
    the same list); `replay_clock` first asks a replay server for its clock frames."""
    out: list[dict[str, Any]] = [{"type": REPLAY_CLOCK}] if replay_clock else []
    for coin in coins:
        for ch in channels:
            if ch == L2BOOK_FAST:
                out.append({"type": L2BOOK, "coin": coin, "fast": True})
            elif ch == CANDLE:
                out.append({"type": CANDLE, "coin": coin, "interval": candle_interval})
            else:
                out.append({"type": ch, "coin": coin})
    return out


def stream_kind(key: Key) -> str:
    """The feed.channels name of a routed subscription key (`l2BookFast` for a fast book)."""
    if key[0] == L2BOOK and key[2]:
        return L2BOOK_FAST
    return str(key[0])
