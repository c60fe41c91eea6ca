"""The numba scan (lotus_core.feed.scan) reads the plain data lines itself and gives the
chunk the generic path gives; it never reads a line the typed decoder refuses (that one
judges it), and it does read the recordings' data lines (not a vacuous equality)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from lotus_core.feed import chunks
from lotus_core.feed.parse import parse_recording
from lotus_core.feed.scan_chunk import scanned
from tests.core.feed.test_feed_typed_decode import (
    CRASH_BOTH,
    FALLBACK,
    FIXTURES,
    GOOD,
    REAL_RECORDING,
    _lines,
    assert_same_chunk,
    typed_reads,
)
from tests.helpers import write_recording

T = 1_767_312_000_000
LV = {"px": "100.5", "sz": "2", "n": 3}


def _line(msg: object, recv: object = T, **dumps: object) -> bytes:
    text = json.dumps({"recv_ts_ms": recv, "msg": msg}, **({"separators": (",", ":")} | dumps))
    return text.encode() + b"\n"


def _raw(text: str) -> bytes:
    return text.encode() + b"\n"


BOOK = {"coin": "BTC", "time": T, "levels": [[LV, LV], [LV]]}
TRADE = {"coin": "ETH", "side": "B", "px": "1.5", "sz": "0.1", "time": T, "tid": 7}
BBO = {"coin": "SOL", "time": T, "bbo": [LV, None]}
CTX = {"coin": "BTC", "ctx": {"funding": "0.0001", "openInterest": "10", "oraclePx": "1",
                             "markPx": "2"}}
CANDLE = {"t": T, "T": T + 59_999, "s": "BTC", "i": "1m", "o": "1", "h": "2", "l": "0.5",
          "c": "1.5", "v": "3", "n": 4}

SCANNED = [  # plain lines of every channel and optional field: the scan reads each
    _line({"channel": "l2Book", "data": BOOK}),
    _line({"channel": "l2Book", "data": {**BOOK, "fast": True, "spread": None}}),
    _line({"channel": "l2Book", "data": {**BOOK, "fast": False, "spread": "0.5"}}),
    _line({"channel": "l2Book", "data": {"levels": [[], []], "time": -5, "coin": "B"}}),
    _line({"channel": "l2Book", "data": {**BOOK, "levels": [[{"sz": "1", "px": "-0"}], []]}}),
    _line({"channel": "trades", "data": [TRADE, {**TRADE, "side": "A", "hash": "0x",
                                                 "users": ["a", "b"]}]}),
    _line({"channel": "trades", "data": [{**TRADE, "users": []}]}),
    _line({"channel": "bbo", "data": BBO}),
    _line({"channel": "bbo", "data": {**BBO, "bbo": [None, None]}}),
    _line({"channel": "bbo", "data": {"bbo": [LV, LV], "time": 0, "coin": "X"}}),
    _line({"channel": "activeAssetCtx", "data": CTX}),
    _line({"channel": "activeAssetCtx", "data": {**CTX, "ctx": {
        **CTX["ctx"], "midPx": "1.5", "premium": None, "prevDayPx": None, "dayNtlVlm": "1",
        "dayBaseVlm": "2", "impactPxs": ["1", "2"]}}}),
    _line({"channel": "activeAssetCtx", "data": {**CTX, "ctx": {
        **CTX["ctx"], "midPx": None, "premium": "-0.00001", "impactPxs": None}}}),
    _line({"channel": "candle", "data": CANDLE}),
    _line({"channel": "candle", "data": {**CANDLE, "i": "5m", "s": "ETH"}}),
    _line({"channel": "bbo", "data": BBO}, recv=-3),
    _line({"channel": "bbo", "data": BBO}, recv=10**17),
    *(_line({"channel": "trades", "data": [{**TRADE, "px": px}]}) for px in (
        "9007199254740992", "0.1", "-0.0", "0.3", "1.797693134862315", "0.0000000000000001",
        "000000000000012.5", "3944.65", "0.0000449115")),
]

NOT_SCANNED = [  # left to the typed or generic path (which may still read them)
    _line({"channel": "bbo", "data": BBO}, separators=(", ", ": ")),  # whitespace
    _line({"msg": {"channel": "bbo", "data": BBO}, "recv_ts_ms": T}),  # msg first
    _line({"data": BBO, "channel": "bbo"}),                            # data first
    _line({"channel": "bbo", "data": {**BBO, "coin": "S\u00f6L"}}),     # non-ASCII coin
    _line({"channel": "bbo", "data": {**BBO, "coin": "a\"b"}}),         # an escape
    _line({"channel": "bbo", "data": {**BBO, "coin": ""}}),             # an empty coin
    _line({"channel": "bbo", "data": BBO}, recv=10**18),               # 19 digits
    _line({"channel": "bbo", "data": {**BBO, "bbo": [{"px": "1e5", "sz": "1"}, None]}}),
    _line({"channel": "bbo", "data": {**BBO, "bbo": [{"px": "1.", "sz": "1"}, None]}}),
    _line({"channel": "bbo", "data": {**BBO, "bbo": [{"px": ".5", "sz": "1"}, None]}}),
    _line({"channel": "bbo", "data": {**BBO, "bbo": [{"px": "nan", "sz": "1"}, None]}}),
    _line({"channel": "bbo", "data": {**BBO, "bbo": [{"px": 1, "sz": "1"}, None]}}),
    *(_line({"channel": "trades", "data": [{**TRADE, "sz": sz}]}) for sz in (
        "9007199254740993", "12345678901234567", "123456789012345678", "0.000000000000000001",
        "-", "-.5", "1.2.3", "+1", " 1", "1 ", "1.7976931348623157", "0.00000000000000001")),
    _line({"channel": "bbo", "data": {**BBO, "bbo": [LV]}}),
    _line({"channel": "bbo", "data": {**BBO, "extra": 1}}),
    _line({"channel": "bbo", "data": {**BBO, "time": 1.0}}),
    _line({"channel": "l2Book", "data": {**BOOK, "levels": [[LV] * 21, []]}}),
    _line({"channel": "l2Book", "data": {**BOOK, "levels": [[LV], [LV], []]}}),
    _line({"channel": "l2Book", "data": {**BOOK, "fast": 1}}),
    _line({"channel": "l2Book", "data": {**BOOK, "levels": [[{"px": "1"}], []]}}),
    _line({"channel": "l2Book", "data": {**BOOK, "levels": [[{**LV, "n": "3"}], []]}}),
    _line({"channel": "trades", "data": []}),
    _line({"channel": "trades", "data": [{**TRADE, "side": "C"}]}),
    _line({"channel": "trades", "data": [{**TRADE, "users": [1]}]}),
    _line({"channel": "trades", "data": [TRADE, {**TRADE, "tid": None}]}),
    _line({"channel": "candle", "data": {k: v for k, v in CANDLE.items() if k != "n"}}),
    _line({"channel": "candle", "data": {**CANDLE, "i": ""}}),
    _line({"channel": "activeAssetCtx", "data": {**CTX, "ctx": {"funding": "1"}}}),
    _line({"channel": "pong"}),
    _line({"channel": "lotusGap", "data": {"start_ms": T, "end_ms": None, "reason": "stall",
                                           "coins": None}}),
    _line("Websocket connection established."),
    _raw('{"recv_ts_ms":1,"msg":{"channel":"bbo","data":{"coin":"A","time":1,'
         '"bbo":[null,null]}}}\r'),
    _raw('{"recv_ts_ms":1,"recv_ts_ms":2,"msg":{"channel":"bbo","data":{"coin":"A",'
         '"time":1,"bbo":[null,null]}}}'),
    _raw('{"recv_ts_ms":1,"msg":{"channel":"bbo","data":{"coin":"A","coin":"B","time":1,'
         '"bbo":[null,null]}}}'),
    _raw('{"recv_ts_ms":01,"msg":{"channel":"bbo","data":{"coin":"A","time":1,'
         '"bbo":[null,null]}}}'),
    _raw('{"recv_ts_ms":1,"msg":{"channel":"bbo","data":{"coin":"A","time":1,'
         '"bbo":[null,null]}}} '),
    _raw('{"recv_ts_ms":1,"msg":{"channel":"bbo","data":{"coin":"A","time":1,'
         '"bbo":[null,null]}}}}'),
    b'{"recv_ts_ms":1,"msg":{"channel":"bbo","data":{"coin":"A","time":1,"bbo":[null,null]}}}',
]


def test_the_scan_reads_the_plain_lines_and_leaves_the_rest() -> None:
    assert scanned(SCANNED).all()
    assert not scanned(NOT_SCANNED).any()


def test_the_scan_never_reads_a_line_the_typed_decoder_refuses() -> None:
    lines = SCANNED + NOT_SCANNED + GOOD + FALLBACK + CRASH_BOTH
    for line, read in zip(lines, scanned(lines).tolist(), strict=True):
        assert typed_reads(line) or not read, line


@pytest.mark.parametrize("seed", range(4))
def test_scanned_and_other_lines_mixed_give_the_generic_chunk(seed: int) -> None:
    lines = SCANNED * 3 + NOT_SCANNED + [x for x in GOOD + FALLBACK if x.strip()]
    random.Random(seed).shuffle(lines)
    want = chunks.extract_chunk(5, lines, typed=False)
    assert_same_chunk(chunks.extract_chunk(5, lines, scan=True), want)
    assert_same_chunk(chunks.extract_chunk(5, lines), want)
    for line in SCANNED:  # one at a time: the generic path parses a few decimals by `float`
        assert_same_chunk(chunks.extract_chunk(1, [line], scan=True),
                          chunks.extract_chunk(1, [line], typed=False))


@pytest.mark.parametrize("path", [FIXTURES / "2026-01-02.jsonl.gz", REAL_RECORDING],
                         ids=lambda p: p.name)
def test_the_scan_reads_every_data_line_of_a_clean_recording(path) -> None:  # noqa: ANN001
    lines = _lines(path, 30_000)
    data = [x for x in lines if any(f'"channel":"{c}"'.encode() in x for c in
                                    ("l2Book", "trades", "bbo", "activeAssetCtx", "candle"))]
    assert len(data) > len(lines) // 2
    assert scanned(data).all()


def test_a_parsed_day_is_the_same_scanned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """The whole parse (tables, dead letters, counts, stats) with every chunk scanned, as
    the nightly parse's chunks are, equals the generic path's, over a recording of the
    crafted lines between real ones, in chunks that split it anywhere."""
    from lotus_core.feed import parse as parse_mod

    day = _lines(FIXTURES / "2026-01-02.jsonl.gz", 3_000)
    crafted = [x for x in SCANNED + NOT_SCANNED + GOOD + FALLBACK if x.strip()]
    lines = day[:1500] + crafted + day[1500:]
    path = write_recording(tmp_path / "2026-01-02.jsonl.gz", [x.rstrip(b"\r\n") for x in lines])
    monkeypatch.setattr(parse_mod, "_CHUNK_LINES", 700)
    monkeypatch.setattr(chunks, "_SCAN_LINES", 1)
    scanned_day = parse_recording(path, workers=1)
    real = chunks.extract_chunk
    monkeypatch.setattr(parse_mod.chunks, "extract_chunk",
                        lambda first, chunk: real(first, chunk, typed=False))
    want = parse_recording(path, workers=1)
    assert scanned_day.dead == want.dead and len(want.dead) > 50
    assert scanned_day.counts == want.counts and scanned_day.stats == want.stats
    for name in ("trades", "bbo", "ctx", "candles", "gaps"):
        assert getattr(scanned_day, name).equals(getattr(want, name)), name
    assert scanned_day.books.meta.equals(want.books.meta)
    for m in ("bid_px", "bid_sz", "ask_px", "ask_sz"):
        assert np.array_equal(getattr(scanned_day.books, m).view(np.int64),
                              getattr(want.books, m).view(np.int64))
