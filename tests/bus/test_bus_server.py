"""The Signal Bus over loopback with real websocket clients and a real fabric: exact resume
after drops (while signals keep being published), refusals that name what was wrong, rows
that break sigbus-1.0.0 never sent, 100 subscribers at once, a stalled subscriber dropped
without holding up the others."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from lotus_bus.client import BusRefused, connect_bus
from lotus_bus.server import BusThread
from lotus_core.bus.auth import SubscriberBook
from lotus_core.bus.frames import CLOSE_LAGGED, DEAD_REASON
from lotus_core.fabric.dead_letter import read_dead_letters
from lotus_core.fabric.envelope import build_envelope
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.outbox import post_to_outbox
from lotus_core.fabric.signing import sign
from lotus_core.store.opsdb import OpsDb
from tests.bus.conftest import Publisher, bus_config, sigbus_doc


async def _signals(conn: ClientConnection, n: int, timeout: float = 10.0) -> list[dict]:
    out: list[dict] = []
    while len(out) < n:
        frame = json.loads(await asyncio.wait_for(conn.recv(), timeout))
        if frame["type"] == "signal":
            out.append(frame)
    return out


async def _silent(conn: ClientConnection, seconds: float = 0.15) -> bool:
    """True when nothing more arrives for `seconds` (no duplicate, no stray frame)."""
    try:
        await asyncio.wait_for(conn.recv(), seconds)
    except TimeoutError:
        return True
    return False


def test_a_subscriber_resumes_exactly_after_drops_while_signals_keep_coming(
        bus: BusThread, publisher: Publisher, tokens: dict[str, str]) -> None:
    first = publisher.publish(30)
    bus.wait_cursor(first[-1])  # so the welcome's head is known
    token = tokens["alpha"]

    async def main() -> list[int]:
        got: list[int] = []
        async with connect_bus(bus.url, token, since=0) as (conn, hello):
            assert hello == {"type": "welcome", "subscriber": "alpha", "since": 0,
                             "head": first[-1]}
            got += [f["seq"] for f in await _signals(conn, 12)]
            conn.transport.abort()  # a drop, not a goodbye
        missed = await asyncio.to_thread(publisher.publish, 20)
        async with connect_bus(bus.url, token, since=got[-1]) as (conn, _):
            got += [f["seq"] for f in await _signals(conn, 38)]
            assert await _silent(conn)
            await conn.send('{"op":"ping"}')
            assert json.loads(await conn.recv()) == {"type": "pong"}
        assert got == first + missed

        # now drop at seeded random points while a thread publishes one signal at a time:
        # the seam between the catch-up and the live queue must lose and repeat nothing
        rng = random.Random(7)
        total = 120
        live: list[int] = []
        done = threading.Event()

        def publish() -> None:
            for _ in range(total):
                live.extend(publisher.publish(1))
            done.set()

        thread = threading.Thread(target=publish)
        thread.start()
        seen: list[int] = []
        last = got[-1]
        conns = 0
        while not (done.is_set() and seen and seen[-1] == live[-1]) and conns < 300:
            conns += 1
            async with connect_bus(bus.url, token, since=last) as (conn, _):
                for _ in range(rng.randint(3, 25)):
                    try:
                        frame = json.loads(await asyncio.wait_for(conn.recv(), 0.5))
                    except TimeoutError:
                        break
                    seen.append(frame["seq"])
                    last = frame["seq"]
                # a drop (a clean close would wait on the frames still arriving: the
                # client stops reading its socket once 16 messages are unread)
                conn.transport.abort()
        thread.join()
        assert conns >= 5  # it did resume, several times
        assert seen == live, "resume lost, repeated or reordered frames"
        return got

    asyncio.run(main())


def test_refusals_name_what_was_wrong(fabric_sqlite: OpsDb, key_dir: Path,
                                      tokens: dict[str, str]) -> None:
    Publisher(fabric_sqlite, Keyring(key_dir)).publish(3)
    book = SubscriberBook(key_dir)
    with BusThread(bus_config(fabric_sqlite, key_dir, hello_timeout_s=0.5)) as bus:
        async def refused(token: str | None, since: object = None, hello: bool = False,
                          ) -> tuple[str, int | None]:
            query = "" if since is None else f"/?since={since}"
            headers = {"Authorization": f"Bearer {token}"} if token and not hello else {}
            async with connect(bus.url + query, additional_headers=headers) as conn:
                if hello:
                    await conn.send(json.dumps({"op": "hello", "token": token}))
                frame = json.loads(await conn.recv())
                with pytest.raises(ConnectionClosed):
                    await conn.recv()
                assert frame["type"] == "refused"
                return frame["code"], conn.close_code

        async def main() -> None:
            assert await refused(None) == ("missing_token", 4401)  # no header, no hello
            assert await refused(None, hello=True) == ("missing_token", 4401)
            assert await refused("alpha.wrong-secret") == ("bad_token", 4401)
            assert await refused("mallory.secret") == ("unknown_subscriber", 4401)
            assert await refused("no-dot") == ("malformed_token", 4401)
            assert await refused(tokens["alpha"], since="-1") == ("bad_since", 4400)
            assert await refused(tokens["alpha"], since="x") == ("bad_since", 4400)
            assert await refused(tokens["alpha"], since=999) == ("since_ahead", 4409)
            book.revoke("beta")  # the running server reads the change
            assert await refused(tokens["beta"]) == ("revoked_subscriber", 4401)
            with pytest.raises(BusRefused, match="bad_token"):
                async with connect_bus(bus.url, "alpha.nope"):
                    pass
            # the hello path (clients that cannot set headers) works with a good token
            async with connect(bus.url) as conn:
                await conn.send(json.dumps({"op": "hello", "token": tokens["alpha"],
                                            "since": 0}))
                assert json.loads(await conn.recv())["type"] == "welcome"
                assert [f["seq"] for f in await _signals(conn, 3)] == [1, 2, 3]

        asyncio.run(main())
        assert bus.server.stats.refused == 10


def test_a_row_that_breaks_sigbus_goes_to_dead_letter_and_is_never_sent(
        fabric_sqlite: OpsDb, key_dir: Path, tokens: dict[str, str]) -> None:
    keys = Keyring(key_dir)
    pub = Publisher(fabric_sqlite, keys)
    before = pub.publish(2)
    bad_doc = {**sigbus_doc(999), "signal": 1.5}
    env = sign(build_envelope(sender="sig", to=["dm"], intent="ALPHA_PROPOSED",
                              payload={"sigbus": bad_doc, "strand_id": "x"}),
               keys.private_key("sig"))
    bad_seq = post_to_outbox(fabric_sqlite, "sig", env, validate=False,  # a relay's bypass
                             models_map=load_modules().map)
    after = pub.publish(2)
    with BusThread(bus_config(fabric_sqlite, key_dir)) as bus:
        async def main() -> list[list[int]]:
            runs = []
            for token in (tokens["alpha"], tokens["beta"]):
                async with connect_bus(bus.url, token, since=0) as (conn, _):
                    runs.append([f["seq"] for f in await _signals(conn, 4)])
                    assert await _silent(conn)
            return runs

        runs = asyncio.run(main())
    assert runs == [before + after] * 2 and bad_seq not in runs[0]
    dead = read_dead_letters(fabric_sqlite, reason=DEAD_REASON)
    assert len(dead) == 1  # recorded once, however many subscribers passed it
    assert dead[0]["event_id"] == env["event_id"] and dead[0]["module"] == "sig"
    assert f"seq {bad_seq}" in dead[0]["detail"] and "sigbus.signal" in dead[0]["detail"]


def test_one_hundred_subscribers_each_get_every_signal_in_order(
        fabric_sqlite: OpsDb, key_dir: Path) -> None:
    book = SubscriberBook(key_dir)
    names = [f"sub-{i:03d}" for i in range(100)]
    toks = [book.add(n) for n in names]
    pub = Publisher(fabric_sqlite, Keyring(key_dir))
    with BusThread(bus_config(fabric_sqlite, key_dir)) as bus:
        async def main() -> list[list[int]]:
            async def join(tok: str) -> tuple:
                cm = connect_bus(bus.url, tok)
                return (cm, *(await cm.__aenter__()))

            conns = await asyncio.gather(*(join(tok) for tok in toks))  # all at once
            assert bus.server.stats.subscribers == 100
            seqs = await asyncio.to_thread(pub.publish, 25)
            got = await asyncio.gather(*(_signals(c, 25) for _, c, _ in conns))
            await asyncio.gather(*(cm.__aexit__(None, None, None) for cm, _, _ in conns))
            assert all(w["subscriber"] == n for (_, _, w), n in zip(conns, names, strict=True))
            return [seqs] + [[f["seq"] for f in g] for g in got]

        seqs, *each = asyncio.run(main())
    assert len(each) == 100 and all(g == seqs for g in each)


def test_a_stalled_subscriber_is_dropped_without_stalling_the_others_and_resumes(
        fabric_sqlite: OpsDb, key_dir: Path, tokens: dict[str, str]) -> None:
    pub = Publisher(fabric_sqlite, Keyring(key_dir))
    cfg = bus_config(fabric_sqlite, key_dir, queue_max=20, sndbuf=8192)
    with BusThread(cfg) as bus:
        async def main() -> None:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", bus.server.port))
            slow_cm = connect(bus.url, sock=sock, max_queue=1, compression=None,
                              additional_headers={"Authorization": f"Bearer {tokens['slow']}"})
            slow = await slow_cm.__aenter__()
            assert json.loads(await slow.recv())["type"] == "welcome"
            async with connect_bus(bus.url, tokens["alpha"]) as (fast, _), \
                    connect_bus(bus.url, tokens["beta"]) as (fast2, _):
                published: list[int] = []
                got: list[int] = []
                got2: list[int] = []
                # publish in steps while `slow` reads nothing; the fast ones keep up at
                # every step (each step's frames arrive before the next is published)
                for _ in range(40):
                    step = await asyncio.to_thread(pub.publish, 10)
                    published += step
                    got += [f["seq"] for f in await _signals(fast, 10, timeout=5)]
                    got2 += [f["seq"] for f in await _signals(fast2, 10, timeout=5)]
                    if bus.server.stats.lagged and len(published) >= 60:
                        break
                assert got == published and got2 == published
                assert bus.server.stats.lagged == 1, "the stalled subscriber was never dropped"
                # the stalled one now reads: what was sent before the drop, then the close
                received: list[int] = []
                with pytest.raises(ConnectionClosed):
                    async for message in slow:
                        received.append(json.loads(message)["seq"])
                assert slow.close_code == CLOSE_LAGGED and "lagged" in (slow.close_reason or "")
                assert received == published[:len(received)]
                # ... and resumes from the last seq it read: exactly the rest
                since = received[-1] if received else 0
                async with connect_bus(bus.url, tokens["slow"], since=since) as (again, _):
                    rest = [f["seq"] for f in
                            await _signals(again, len(published) - len(received))]
                    assert await _silent(again)
                assert received + rest == published
            await slow_cm.__aexit__(None, None, None)

        asyncio.run(main())
