"""Typed decoding of a recording line that carries one of the venue's five data channels.

The parse's fast path (`lotus_core.feed.extract`): msgspec decodes a line straight into
these structs, faster than a generic decode into dicts and without pulling each value out
by key afterwards. The structs are the wire contract exactly (shared/contracts/
hyperliquid-ws.md): every field typed, every known field declared, unknown fields
forbidden. So a line is accepted only if the generic path would read the same values from
it; anything else (not JSON, a text frame, another channel, a missing or extra field, a
wrong type, an integer outside int64) raises one of `REFUSED`, and the caller hands that
line to the generic path, which alone decides whether it is a dead letter and why.

Nothing is skipped unread: msgspec checks neither the UTF-8 nor the number range of a
value it skips, where orjson refuses the whole line, and an accepted line must be one
orjson accepts. Decimals stay strings, parsed later in bulk (`extract.floats`): msgspec's
lax string-to-float reads "-0" as +0.0 (float("-0") is -0.0), would also take numeric
strings for the integer fields, and measured no faster here.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
"""An integer the int64 columns hold. Past it orjson reads otherwise (a float beyond 64
bits, a refused line beyond the float range), so the generic path judges such a line."""

REFUSED = (msgspec.DecodeError, ValueError, RecursionError)
"""What `decode_record` raises for a line it will not read (msgspec's ValidationError is a
DecodeError; invalid UTF-8 in a string surfaces as UnicodeDecodeError, a ValueError)."""


class _Wire(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """Base of every struct: extra keys refused; not tracked by the cyclic GC (acyclic)."""


class Level(_Wire):
    px: str
    sz: str
    n: Int64 = 0


class Book(_Wire):
    coin: str
    time: Int64
    levels: tuple[list[Level], list[Level]]
    fast: bool = False
    spread: str | None = None


class Trade(_Wire):
    coin: str
    side: Literal["B", "A"]
    px: str
    sz: str
    time: Int64
    tid: Int64
    hash: str = ""
    users: list[str] = []


class Bbo(_Wire):
    coin: str
    time: Int64
    bbo: tuple[Level | None, Level | None]


class AssetCtx(_Wire):
    funding: str
    openInterest: str
    oraclePx: str
    markPx: str
    midPx: str | None = None
    premium: str | None = None
    prevDayPx: str | None = None
    dayNtlVlm: str | None = None
    dayBaseVlm: str | None = None
    impactPxs: list[str] | None = None


class ActiveAssetCtx(_Wire):
    coin: str
    ctx: AssetCtx


class Candle(_Wire):
    t_open: Int64 = msgspec.field(name="t")
    t_close: Int64 = msgspec.field(name="T")
    coin: str = msgspec.field(name="s")
    interval: str = msgspec.field(name="i")
    o: str
    h: str
    low: str = msgspec.field(name="l")
    c: str
    v: str
    n: Int64


class BookMsg(_Wire, tag_field="channel", tag="l2Book"):
    data: Book


class TradesMsg(_Wire, tag_field="channel", tag="trades"):
    data: Annotated[list[Trade], msgspec.Meta(min_length=1)]


class BboMsg(_Wire, tag_field="channel", tag="bbo"):
    data: Bbo


class CtxMsg(_Wire, tag_field="channel", tag="activeAssetCtx"):
    data: ActiveAssetCtx


class CandleMsg(_Wire, tag_field="channel", tag="candle"):
    data: Candle


Message = BookMsg | TradesMsg | BboMsg | CtxMsg | CandleMsg


class Record(_Wire):
    """One recording line: {"recv_ts_ms": <int>, "msg": <a data channel's message>}."""

    recv_ts_ms: Int64
    msg: Message


decode_record = msgspec.json.Decoder(Record).decode
"""bytes -> Record, or one of `REFUSED` raised."""
