"""The strict, slow validator: run only on a frame the fast path could not read, to say why."""

from __future__ import annotations

from typing import Any

from lotus_core.feed.tables import MAX_LEVELS


class FeedFormatError(ValueError):
    """A frame that breaks the wire contract; the message says what was wrong."""


def _num(v: object, key: str) -> None:
    if not isinstance(v, str):
        raise FeedFormatError(f"{key} must be a decimal string, got {type(v).__name__}")
    try:
        float(v)
    except ValueError:
        raise FeedFormatError(f"{key} is not a number: {v!r}") from None


def _int(v: object, key: str) -> None:
    if type(v) is not int:
        raise FeedFormatError(f"{key} must be an integer, got {type(v).__name__}")


def _str(v: object, key: str) -> str:
    if not isinstance(v, str) or not v:
        raise FeedFormatError(f"{key} must be a non-empty string")
    return v


def _obj(v: object, what: str) -> dict:
    if not isinstance(v, dict):
        raise FeedFormatError(f"{what} must be an object")
    return v


def _level(v: object, where: str) -> None:
    lvl = _obj(v, where)
    for key in ("px", "sz"):
        if key not in lvl:
            raise FeedFormatError(f"{where} has no {key}")
        _num(lvl[key], f"{where}.{key}")


def _l2book(data: Any) -> str:
    data = _obj(data, "data")
    coin = _str(data.get("coin"), "coin")
    _int(data.get("time"), "time")
    levels = data.get("levels")
    if not (isinstance(levels, list) and len(levels) == 2
            and all(isinstance(side, list) for side in levels)):
        raise FeedFormatError("levels must be [[bids], [asks]]")
    for s, side in enumerate(levels):
        if len(side) > MAX_LEVELS:
            raise FeedFormatError(f"more than {MAX_LEVELS} levels a side")
        for i, lvl in enumerate(side):
            _level(lvl, f"levels[{s}][{i}]")
    return coin


def _trades(data: Any) -> str:
    if not isinstance(data, list) or not data:
        raise FeedFormatError("data must be a non-empty array of trades")
    coin = ""
    for i, tr in enumerate(data):
        tr = _obj(tr, f"trade {i}")
        coin = _str(tr.get("coin"), f"trade {i}.coin")
        if tr.get("side") not in ("B", "A"):
            raise FeedFormatError(f"trade {i}.side must be 'B' or 'A', got {tr.get('side')!r}")
        _int(tr.get("time"), f"trade {i}.time")
        _int(tr.get("tid"), f"trade {i}.tid")
        _num(tr.get("px"), f"trade {i}.px")
        _num(tr.get("sz"), f"trade {i}.sz")
    return coin


def _bbo(data: Any) -> str:
    data = _obj(data, "data")
    coin = _str(data.get("coin"), "coin")
    _int(data.get("time"), "time")
    pair = data.get("bbo")
    if not (isinstance(pair, list) and len(pair) == 2):
        raise FeedFormatError("bbo must be [bid, ask]")
    for i, lvl in enumerate(pair):
        if lvl is not None:
            _level(lvl, f"bbo[{i}]")
    return coin


def _ctx(data: Any) -> str:
    data = _obj(data, "data")
    coin = _str(data.get("coin"), "coin")
    ctx = _obj(data.get("ctx"), "ctx")
    for key in ("funding", "openInterest", "oraclePx", "markPx"):
        _num(ctx.get(key), f"ctx.{key}")
    for key in ("midPx", "premium"):
        if ctx.get(key) is not None:
            _num(ctx[key], f"ctx.{key}")
    return coin


def _candle(data: Any) -> str:
    data = _obj(data, "data (one candle)")
    coin = _str(data.get("s"), "s")
    _str(data.get("i"), "i")
    for key in ("t", "T", "n"):
        _int(data.get(key), key)
    for key in ("o", "h", "l", "c", "v"):
        _num(data.get(key), key)
    return coin


_CHECKS = {"l2Book": _l2book, "trades": _trades, "bbo": _bbo, "activeAssetCtx": _ctx,
           "candle": _candle}


def explain(msg: Any) -> tuple[str, str | None, str | None, str]:
    """(reason, channel, coin, detail) for a message the fast path refused."""
    if not isinstance(msg, dict) or not isinstance(msg.get("channel"), str):
        return ("malformed_message", None, None,
                "msg must be a text frame or an object with a string channel")
    channel = msg["channel"]
    check = _CHECKS.get(channel)
    if check is None:
        return "unknown_channel", channel, None, f"channel {channel!r} is not one Lotus reads"
    try:
        coin = check(msg.get("data"))
    except FeedFormatError as exc:
        data = msg.get("data")
        coin = None
        if isinstance(data, dict):
            coin = data.get("coin") or data.get("s")
        elif isinstance(data, list) and data and isinstance(data[0], dict):
            coin = data[0].get("coin")
        return (f"malformed_{channel}", channel, coin if isinstance(coin, str) else None,
                str(exc))
    return f"malformed_{channel}", channel, coin, "unexpected shape"
