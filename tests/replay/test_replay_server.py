"""The replay server over real loopback sockets: the contract, filtering, faults, late joiners."""

from __future__ import annotations

import gzip
import json
import time
from datetime import date

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from lotus_core.venues.hyperliquid.wire import GREETING, split_record
from lotus_replay.server import Faults, ReplayConfig, ReplayThread
from tests.helpers import REAL_RECORDING

DAY = "2025-01-26"


@pytest.fixture
def feed_dir(tmp_path):
    d = tmp_path / "feed"
    d.mkdir()
    (d / f"{DAY}.jsonl.gz").write_bytes(REAL_RECORDING.read_bytes())
    return d


def _recorded(channel_coin=None):
    out = []
    for line in gzip.decompress(REAL_RECORDING.read_bytes()).splitlines():
        rec = split_record(line)
        if rec and rec[1].startswith("{"):
            msg = json.loads(rec[1])
            if msg.get("channel") in ("subscriptionResponse", "pong", "error"):
                continue
            out.append(rec[1])
    return out


def _recv_until(ws, pred, timeout=10.0, server=None):
    """Frames until `pred(frame, frames so far)` holds, `timeout` passes or (given a
    `server`) its replay has ended and nothing more arrives."""
    end = time.monotonic() + timeout
    got = []
    while time.monotonic() < end:
        try:
            text = ws.recv(timeout=max(0.01, min(0.25, end - time.monotonic())))
        except TimeoutError:
            if server is not None and server.done.is_set():
                break
            continue
        got.append(text)
        if pred(text, got):
            break
    return got


def test_contract_greeting_acks_errors_ping(feed_dir):
    with ReplayThread(ReplayConfig(feed_dir, speed=None)) as srv, connect(srv.url) as ws:
        assert ws.recv(timeout=5) == GREETING
        ws.send(json.dumps({"method": "ping"}))
        assert json.loads(ws.recv(timeout=5)) == {"channel": "pong"}
        ws.send("not json")
        err = json.loads(ws.recv(timeout=5))
        assert err["channel"] == "error"
        assert err["data"].startswith("Error parsing JSON into valid websocket request: ")
        ws.send(json.dumps({"method": "subscribe", "subscription": {"type": "nope", "coin": "X"}}))
        assert json.loads(ws.recv(timeout=5))["data"].startswith("Invalid subscription: ")
        ws.send(json.dumps({"method": "unsubscribe",
                            "subscription": {"type": "bbo", "coin": "BTC"}}))
        assert json.loads(ws.recv(timeout=5))["data"].startswith("Already unsubscribed: ")
        sub = {"method": "subscribe", "id": 7, "subscription": {"type": "l2Book", "coin": "BTC"}}
        ws.send(json.dumps(sub))
        got = _recv_until(ws, lambda t, g: "subscriptionResponse" in t)
        ackmsg = json.loads(got[-1])
        assert ackmsg["data"]["subscription"] == {"type": "l2Book", "coin": "BTC",
                                                  "nSigFigs": None, "mantissa": None}
        ws.send(json.dumps(sub))
        got = _recv_until(ws, lambda t, g: '"channel":"error"' in t)
        assert json.loads(got[-1])["data"].startswith("Already subscribed: ")


def test_only_subscribed_frames_exactly_as_recorded(feed_dir):
    want = [t for t in _recorded() if '"channel":"l2Book"' in t and '"coin":"BTC"' in t]
    with ReplayThread(ReplayConfig(feed_dir, speed=None)) as srv, connect(srv.url) as ws:
        ws.recv(timeout=5)
        ws.send(json.dumps({"method": "subscribe",
                            "subscription": {"type": "l2Book", "coin": "BTC"}}))
        got = [t for t in _recv_until(ws, lambda t, g: srv.server.done.is_set()
                                      and len(g) > len(want), timeout=20)
               if "subscriptionResponse" not in t]
    assert got == want


def test_several_clients_late_subscriber_starts_at_current_time(feed_dir):
    frames = [t for t in _recorded() if '"coin":"BTC"' in t or '"s":"BTC"' in t]
    # `a` reads 8 of the frames its three channels get: with websockets' bounded queue its
    # reader would stop there and its close wait out the 10 s close timeout
    with (ReplayThread(ReplayConfig(feed_dir, speed=20.0)) as srv,
          connect(srv.url, max_queue=None) as a, connect(srv.url) as b):
        a.recv(timeout=5)
        b.recv(timeout=5)
        for ch in ("l2Book", "trades", "bbo"):
            a.send(json.dumps({"method": "subscribe",
                               "subscription": {"type": ch, "coin": "BTC"}}))
        first = _recv_until(a, lambda t, g: len(g) >= 8)
        time.sleep(1.0)
        b.send(json.dumps({"method": "subscribe",
                           "subscription": {"type": "trades", "coin": "BTC"}}))
        late = [t for t in _recv_until(b, lambda t, g: len(g) >= 3, server=srv.server)
                if '"channel":"trades"' in t]
    assert first and late
    first_trade = next(t for t in frames if '"channel":"trades"' in t)
    assert late[0] != first_trade  # started where the replay was, not at the beginning


def test_hold_without_client_pauses_the_clock_until_a_client_subscribes_again(feed_dir):
    sub = json.dumps({"method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC"}})
    with ReplayThread(ReplayConfig(feed_dir, speed=20.0, hold_without_client=True)) as srv:
        server = srv.server
        with connect(srv.url) as a:
            a.recv(timeout=5)
            a.send(sub)
            assert len(_recv_until(a, lambda t, g: len(g) >= 3)) >= 3
        time.sleep(0.5)  # the server sees the close
        held = server.stats.frames_read
        time.sleep(1.5)
        assert server.stats.frames_read == held and not server.done.is_set()
        with connect(srv.url) as b:
            b.recv(timeout=5)
            b.send(sub)
            got = _recv_until(b, lambda t, g: False, timeout=40, server=server)
        assert server.done.is_set() and server.stats.frames_read > held
        assert [t for t in got if '"channel":"l2Book"' in t]


def test_faults_drop_1006_refuse_garbage_and_stall(feed_dir):
    faults = Faults(drop_every_s=2.0, refuse_for_s=0.3, garbage=0.9, seed=3,
                    stall="BTC", stall_at_s=0.0, stall_for_s=1.0)
    with ReplayThread(ReplayConfig(feed_dir, speed=4.0, faults=faults)) as srv:
        with pytest.raises(InvalidStatus):
            connect(srv.url, open_timeout=5)
        time.sleep(0.35)
        ws = connect(srv.url)
        ws.recv(timeout=5)
        ws.send(json.dumps({"method": "subscribe",
                            "subscription": {"type": "l2Book", "coin": "BTC"}}))
        got = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                got.append(ws.recv(timeout=10))
        assert closed.value.rcvd is None  # no close frame: the client sees 1006
        assert ws.protocol.close_code == 1006
        assert srv.server.stats.refused >= 1 and srv.server.stats.drops == 1
        assert srv.server.stats.garbage_sent >= 1
        assert any(not t.startswith("{") or '"mystery"' in t or '"side":"X"' in t
                   or '"time":"soon"' in t for t in got)
        data = [json.loads(t) for t in got if t.startswith('{"channel":"l2Book"')]
        # the first second of replay time was stalled: nothing from it arrived
        t0 = json.loads(_recorded()[0])["data"]["time"]
        assert data and min(d["data"]["time"] for d in data) >= t0 + 900


def test_text_frames_are_the_bytes_websockets_writes():
    """The server's fast path writes what websockets' own `send_text` would, at every
    length class of the header (7-bit, 16-bit, 64-bit) and for non-ASCII text."""
    from websockets.frames import TEXT, Frame

    from lotus_replay.server import text_frames

    texts = ["", "x" * 125, "x" * 126, "é" * 40_000, "y" * 65_535, "z" * 65_536,
             '{"channel":"bbo","data":{"coin":"BTC"}}']
    want = b"".join(Frame(TEXT, t.encode()).serialize(mask=False) for t in texts)
    assert text_frames(texts) == want


_ODD_HEADS = [
    '{"channel":"l2Book","data":{"coin":"BTC","levels":[[],[]],"fast":true}}',
    '{"channel":"l2Book","data":{"coin":"BTC","levels":[[],[]],"fast":false}}',
    '{"channel":"l2Book","data":{"coin":"BTC","fast":true,"levels":[[],[]]}}',
    '{"channel":"l2Book","data":{"coin":"BTC","fast":false,"levels":[[],[]],"fast":true}}',
    '{"channel":"l2Book","data":{"coin":"BTC","levels":[[],[]],"fast": true}}',
    '{"channel":"l2Book","data":{"coin":"BTC","levels":[[],[]]},"fast":true}',
    '{"channel":"trades","data":{"coin":"BTC","px":"1"}}',
    '{"channel":"bbo","data":[{"coin":"BTC","bbo":[null,null]}]}',
    '{"channel":"trades","data":[{"coin":"ETH","px":"1"},{"coin":"BTC","px":"2"}]}',
    '{"channel":"bbo","data":{"coin":"B\\"TC","time":1}}',
    '{"channel":"activeAssetCtx","data":{"coin":"@107","ctx":{}}}',
]


def test_head_routing_is_the_parsed_frames_route(tmp_path):
    """The server routes a frame by its head when it is laid out as the venue's: the same
    subscription `route` finds in the parsed frame, on the real sample, a generated day
    (fast and slow books) and odd layouts; anything else is parsed."""
    import orjson

    from lotus_core.synth.generator import generate_day
    from lotus_core.synth.spec import default_spec
    from lotus_core.venues.hyperliquid.wire import route
    from lotus_replay.source import head_route

    feed = generate_day(tmp_path, date(2026, 1, 6), ["BTC", "ETH"], 3, default_spec(),
                        hours=(0, 1))[0]
    texts = list(_ODD_HEADS)
    for path in (REAL_RECORDING, feed):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            rec = split_record(line)
            if rec is not None:
                texts.append(rec[1])
    by_head = 0
    for text in texts:
        got = head_route(text)
        if got is not None:
            by_head += 1
            assert got == route(orjson.loads(text)), text[:200]
    fast = sum(1 for t in texts if head_route(t) is not None and head_route(t)[-1] is True)
    assert by_head > 0.9 * len(texts) and fast > 100


def test_record_route_is_split_record_then_head_route(tmp_path):
    """The server's one-match read of a recording line (`record_route`: no decode) gives
    the recv time, text and subscription `split_record` + `head_route` give, on the real
    sample, a generated day and odd lines (spaces, a string message, non-ASCII, odd
    heads); the frames it serves are `ws_frame` of that text, and `ws_payload` inverts it."""
    from lotus_core.synth.generator import generate_day
    from lotus_core.synth.spec import default_spec
    from lotus_replay.source import head_route, record_route, ws_frame, ws_payload

    feed = generate_day(tmp_path, date(2026, 1, 6), ["BTC", "ETH"], 3, default_spec(),
                        hours=(0, 1))[0]
    lines = [b'{"recv_ts_ms":5,"msg":%s}\n' % t.encode() for t in _ODD_HEADS]
    lines += [b'{"recv_ts_ms": 5, "msg": {"channel":"bbo","data":{"coin":"BTC","t":1}}}',
              b'{"recv_ts_ms":5,"msg":"Websocket connection established."}',
              '{"recv_ts_ms":5,"msg":{"channel":"bbo","data":{"coin":"BTC","x":"é"}}}'.encode(),
              b'{"recv_ts_ms":5,"msg":{"channel":"bbo","data":{"coin":"BTC","t":1}}  }  \n',
              b'{"recv_ts_ms":5,"msg":{"channel":"bbo","data":{"coin":"BTC","t":1}']
    for path in (REAL_RECORDING, feed):
        lines += gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    fast = 0
    for line in lines:
        got = record_route(line)
        if got is None:
            continue
        fast += 1
        rec = split_record(line)
        assert rec is not None and (got[0], got[1].decode()) == rec, line[:200]
        assert got[2] == head_route(rec[1]), line[:200]
        assert ws_payload(ws_frame(got[1])) == got[1]
    assert fast > 0.9 * len(lines)
    for n in (0, 125, 126, 65_535, 65_536):
        assert ws_payload(ws_frame(b"x" * n)) == b"x" * n
