"""A reference subscriber: connect with a token and a seq, and resume after every drop.

    async with connect_bus(url, token, since=41) as (conn, welcome): ...
    await follow(url, token, on_frame, since=41, stop=event)   # reconnects with the last seq

A refusal (bad token, bad since) raises `BusRefused` with the server's code; a drop
(network, server restart, 4408 lagged) is resumed from the last seq received.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


class BusRefused(RuntimeError):
    """The server refused the subscription; `code` says why (lotus_core/bus/auth.py)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code


def bus_url(url: str, since: int | None) -> str:
    return url if since is None else f"{url.rstrip('/')}/?{urlencode({'since': since})}"


@asynccontextmanager
async def connect_bus(url: str, token: str, since: int | None = None,
                      **kwargs: Any) -> AsyncIterator[tuple[ClientConnection, dict[str, Any]]]:
    """An open subscription and its welcome frame; BusRefused when refused."""
    async with connect(bus_url(url, since), additional_headers={"Authorization": f"Bearer {token}"},
                       compression=None, **kwargs) as conn:
        try:
            first = json.loads(await conn.recv())
        except ConnectionClosed as exc:
            raise BusRefused("closed", str(exc)) from exc
        if first.get("type") == "refused":
            raise BusRefused(first.get("code", "?"), first.get("reason", ""))
        yield conn, first


async def follow(url: str, token: str, on_frame: Callable[[dict[str, Any]], None], *,
                 since: int | None = None, stop: asyncio.Event | None = None,
                 retry_s: float = 0.2) -> int | None:
    """Call `on_frame` for every signal frame, reconnecting with the last seq after a drop,
    until `stop` is set; returns the last seq received (or started from)."""
    last: list[int | None] = [since]
    stop = stop or asyncio.Event()

    def seen(frame: dict[str, Any]) -> None:
        last[0] = int(frame["seq"])
        on_frame(frame)

    while not stop.is_set():
        try:
            async with connect_bus(url, token, last[0]) as (conn, hello):
                if last[0] is None:
                    last[0] = int(hello["since"])
                reader = asyncio.ensure_future(_drain(conn, seen))
                halt = asyncio.ensure_future(stop.wait())
                await asyncio.wait({reader, halt}, return_when=asyncio.FIRST_COMPLETED)
                halt.cancel()
                reader.cancel()
        except (ConnectionClosed, OSError):
            pass
        if not stop.is_set():
            await asyncio.sleep(retry_s)
    return last[0]


async def _drain(conn: ClientConnection, on_frame: Callable[[dict[str, Any]], None]) -> None:
    try:
        async for message in conn:
            frame = json.loads(message)
            if frame.get("type") == "signal":
                on_frame(frame)
    except ConnectionClosed:
        pass
