"""Encoding messages exactly as the venue sends them (see contracts/hyperliquid-ws.md): the
synthetic markets (lotus_core.synth, lotus_core.flowmarket) write their days through it.

l2Book and bbo frames dominate the volume, so they are assembled from cached level
fragments; everything else goes through orjson. Key order is fixed: it is the order of
the contract's examples, and dict insertion order is what orjson writes.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Protocol

import numpy as np
import orjson

from lotus_core.venues.hyperliquid import wire
from lotus_core.venues.hyperliquid.numfmt import fixed_to_str

PONG: bytes = wire.PONG.encode()


class Levels(Protocol):
    """Book levels as (rows, depth) matrices: price in ticks, size in lots, order count; best
    level first (a generator's book, e.g. lotus_core.synth.book.Levels)."""

    @property
    def px(self) -> np.ndarray: ...
    @property
    def lots(self) -> np.ndarray: ...
    @property
    def n(self) -> np.ndarray: ...


class CoinWire:
    """String caches and encoders for one coin's messages.

    Prices are integer ticks with `tick_decimals`; sizes are integer lots with
    `sz_decimals`. Level fragments repeat across snapshots (levels persist), so each
    distinct one is formatted once per batch.
    """

    def __init__(self, coin: str, tick_decimals: int, sz_decimals: int) -> None:
        self.coin = coin
        self.tick_decimals = tick_decimals
        self.sz_decimals = sz_decimals
        self._coin_json = orjson.dumps(coin).decode()
        self._px: dict[int, str] = {}
        self._sz: dict[int, str] = {}

    def reset(self) -> None:
        """Forget cached prices and sizes (call between hours to bound memory)."""
        self._px.clear()
        self._sz.clear()

    def px(self, ticks: int) -> str:
        text = self._px.get(ticks)
        if text is None:
            text = self._px[ticks] = fixed_to_str(ticks, self.tick_decimals)
        return text

    def sz(self, lots: int) -> str:
        text = self._sz.get(lots)  # sizes repeat less than prices, but still ~60 % of calls
        if text is None:
            text = self._sz[lots] = fixed_to_str(lots, self.sz_decimals)
        return text

    def _side_json(self, levels: Levels) -> list[str]:
        """The JSON of each row's levels, e.g. `{"px":"1.0","sz":"2.5","n":3},{...}`.

        Levels repeat across snapshots, so each distinct (px, size, n) is formatted once
        and rows are joined from the fragments with a C-level itemgetter.
        """
        rows, depth = levels.px.shape
        if rows == 0:
            return []
        codes, fragments = self._level_codes(levels)
        if depth == 1:
            return [fragments[i] for i in codes[:, 0].tolist()]
        out = []
        for row in codes.tolist():
            out.append(",".join(itemgetter(*row)(fragments)))
        return out

    def _level_codes(self, levels: Levels) -> tuple[np.ndarray, list[str]]:
        """Index of each level into a list of distinct formatted level fragments."""
        px, lots, n = levels.px.ravel(), levels.lots.ravel(), levels.n.ravel()
        px0 = int(px.min())
        span_lots, span_n = int(lots.max()) + 1, int(n.max()) + 1
        if (int(px.max()) - px0 + 1) * span_lots * span_n < 2**62:
            key = ((px - px0) * span_lots + lots) * span_n + n
            uniq, inverse = np.unique(key, return_inverse=True)
            first = np.zeros(len(uniq), dtype=np.int64)
            first[inverse[::-1]] = np.arange(len(key))[::-1]
        else:  # astronomically wide books: fall back to row-wise unique
            stacked = np.stack([px, lots, n], axis=1)
            uniq_rows, first, inverse = np.unique(stacked, axis=0, return_index=True,
                                                  return_inverse=True)
            del uniq_rows
        px_text, sz = self.px, self.sz
        fragments = [f'{{"px":"{px_text(p)}","sz":"{sz(q)}","n":{c}}}'
                     for p, q, c in zip(px[first].tolist(), lots[first].tolist(),
                                        n[first].tolist(), strict=True)]
        return inverse.reshape(levels.px.shape), fragments

    def l2books(self, times: list[int], bids: Levels, asks: Levels, fast: bool) -> list[bytes]:
        """One l2Book snapshot per row: bids best first (descending), asks ascending."""
        head = f'{{"channel":"l2Book","data":{{"coin":{self._coin_json},"time":'
        tail = ',"fast":true}}' if fast else "}}"
        return [f'{head}{t},"levels":[[{b}],[{a}]]{tail}'.encode()
                for t, b, a in zip(times, self._side_json(bids), self._side_json(asks),
                                   strict=True)]

    def bbos(self, times: list[int], bids: Levels, asks: Levels) -> list[bytes]:
        """One bbo push per row, from depth-1 levels."""
        head = f'{{"channel":"bbo","data":{{"coin":{self._coin_json},"time":'
        return [f'{head}{t},"bbo":[{b},{a}]}}}}'.encode()
                for t, b, a in zip(times, self._side_json(bids), self._side_json(asks),
                                   strict=True)]

    def trades(self, fills: list[dict[str, Any]]) -> bytes:
        return orjson.dumps({"channel": "trades", "data": fills})

    def trade(self, side: int, ticks: int, lots: int, time_ms: int, tx_hash: str, tid: int,
              buyer: str, seller: str) -> dict[str, Any]:
        return {
            "coin": self.coin,
            "side": "B" if side > 0 else "A",
            "px": self.px(ticks),
            "sz": self.sz(lots),
            "time": time_ms,
            "hash": tx_hash,
            "tid": tid,
            "users": [buyer, seller],
        }

    def candle(self, t_open: int, o: int, c: int, h: int, low: int, v_lots: int, n: int
               ) -> bytes:
        return orjson.dumps({"channel": "candle", "data": {
            "t": t_open,
            "T": t_open + 59_999,
            "s": self.coin,
            "i": "1m",
            "o": self.px(o),
            "c": self.px(c),
            "h": self.px(h),
            "l": self.px(low),
            "v": self.sz(v_lots),
            "n": n,
        }})

    def asset_ctx(self, ctx: dict[str, Any]) -> bytes:
        return orjson.dumps({"channel": "activeAssetCtx", "data": {"coin": self.coin, "ctx": ctx}})


def subscriptions(coin: str) -> list[dict[str, Any]]:
    """The normalised subscription echoes a client recording this feed receives per coin."""
    return [
        {"type": "l2Book", "coin": coin, "nSigFigs": None, "mantissa": None},
        {"type": "l2Book", "coin": coin, "nSigFigs": None, "mantissa": None, "fast": True},
        {"type": "trades", "coin": coin},
        {"type": "bbo", "coin": coin},
        {"type": "activeAssetCtx", "coin": coin},
        {"type": "candle", "coin": coin, "interval": "1m"},
    ]


def subscription_ack(subscription: dict[str, Any]) -> bytes:
    return wire.ack("subscribe", subscription).encode()


def connected_frame() -> bytes:
    """The plain-text greeting, recorded as a JSON string message."""
    return orjson.dumps(wire.GREETING)


TIME_KEYS = frozenset({"recv_ts_ms", "time", "t", "T"})
"""The keys of a recorded line that hold a receive or venue time (ms)."""


def shifted(value: object, ms: int) -> object:
    """A recorded line (its parsed JSON) with every receive and venue time moved by `ms`:
    the same minutes on another day, as the fixtures and tests make other days from a real
    capture."""
    if isinstance(value, dict):
        return {k: (v + ms if k in TIME_KEYS and isinstance(v, int) else shifted(v, ms))
                for k, v in value.items()}
    if isinstance(value, list):
        return [shifted(v, ms) for v in value]
    return value
