"""The feed client's connection: its fast path cuts out exactly the messages websockets'
own parser would deliver, whatever the TCP chunking, and leaves every other frame (pings,
fragments, close, protocol errors) to the library.

A real websockets server on loopback writes pre-serialised frames as raw bytes in random
chunks; the client is the feed loop's `FeedConnection`.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosedError
from websockets.frames import BINARY, CONT, PING, PONG, TEXT, Frame

from lotus_daemon.loops.feed_connection import FeedConnection


def _stream(rng: random.Random, n: int) -> tuple[bytes, list[bytes], int]:
    """Serialised server frames, the messages they carry in order, and how many of them
    are single frames (the fast path's)."""
    out: list[bytes] = []
    messages: list[bytes] = []
    for i in range(n):
        size = rng.choice([0, 5, 120, 125, 126, 300, 65_535, 65_536, 70_000])
        body = (b'{"channel":"trades","i":%d,"pad":"' % i) + b"x" * size + b'"}'
        r = rng.random()
        if r < 0.1:  # a fragmented message, a ping between its fragments
            cut = sorted(rng.sample(range(1, len(body)), 2))
            parts = [body[:cut[0]], body[cut[0]:cut[1]], body[cut[1]:]]
            out.append(Frame(TEXT, parts[0], fin=False).serialize(mask=False))
            out.append(Frame(PING, b"p%d" % i).serialize(mask=False))
            out.append(Frame(CONT, parts[1], fin=False).serialize(mask=False))
            out.append(Frame(CONT, parts[2], fin=True).serialize(mask=False))
        elif r < 0.2:
            out.append(Frame(PING if r < 0.15 else PONG, b"c%d" % i).serialize(mask=False))
            out.append(Frame(BINARY, body).serialize(mask=False))
        else:
            out.append(Frame(TEXT, body).serialize(mask=False))
        messages.append(body)
    single = len(messages) - sum(1 for f in out if f[0] == 0x01)  # TEXT, FIN unset
    return b"".join(out), messages, single


async def _serve_raw(data: bytes, seed: int, tail: bytes = b""
                     ) -> tuple[list[bytes], Exception | None, int]:
    rng = random.Random(seed)

    async def handler(ws) -> None:
        pos = 0
        while pos < len(data):
            step = rng.choice([1, 2, 3, 7, 100, 1_000, 20_000, 200_000])
            ws.transport.write(data[pos:pos + step])
            pos += step
            if rng.random() < 0.3:
                await asyncio.sleep(0.001)  # a separate read on the client
        if tail:
            ws.transport.write(tail)
            await asyncio.sleep(1.0)
        else:
            await ws.close()

    got: list[bytes] = []
    error: Exception | None = None
    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None, max_size=2**17,
                           create_connection=FeedConnection) as ws:
            while True:
                await asyncio.wait_for(ws.arrived.wait(), 10)
                ws.arrived.clear()
                got.extend(ws.inbox)
                ws.inbox.clear()
                if ws.connection_lost_waiter.done() and not ws.inbox:
                    error = ws.close_exc
                    break
            fast = ws.fast_frames
    return got, error, fast


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_path_delivers_what_the_library_would_whatever_the_chunking(seed):
    data, messages, single = _stream(random.Random(seed), 300)
    got, error, fast = asyncio.run(_serve_raw(data, seed))
    assert got == messages
    assert not isinstance(error, ConnectionClosedError), error  # a clean close
    assert fast == single < len(messages)  # every single-frame message, from the first


@pytest.mark.parametrize(("tail", "code"), [
    (Frame(TEXT, b"x" * (2**17 + 1)).serialize(mask=False), 1009),  # too big
    (Frame(TEXT, b"masked").serialize(mask=True), 1002),           # a server may not mask
    (bytes([0xC1, 0x01, 0x41]), 1002),                             # a reserved bit
], ids=["too-big", "masked", "reserved-bit"])
def test_frames_the_fast_path_refuses_fail_the_connection_as_the_library_does(tail, code):
    data, messages, _ = _stream(random.Random(7), 20)
    got, error, _ = asyncio.run(_serve_raw(data, 7, tail))
    assert got == messages  # everything before the bad frame arrived
    assert isinstance(error, ConnectionClosedError)
    assert error.sent is not None and error.sent.code == code
