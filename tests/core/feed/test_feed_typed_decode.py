"""The parse's typed decoding (msgspec structs, lotus_core.venues.hyperliquid.decode) gives
the chunk the generic orjson path gives: every table column (dtype, values, NaN bits), the
per-line kinds and receive times, the coin and interval codes, and the dead letters with
their reasons, details and excerpts. Lines the typed decoder refuses are read the generic
way; these tests also prove that it refuses what it must and reads the fixtures' lines."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lotus_core.feed import chunks
from lotus_core.feed import extract as ex
from lotus_core.feed.parse import open_recording, parse_recording
from lotus_core.feed.tables import MAX_LEVELS
from lotus_core.venues.hyperliquid.decode import REFUSED, decode_record
from tests.helpers import REAL_RECORDING, write_recording

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "fixtures"
RECORDINGS = sorted(FIXTURES.glob("*.jsonl.gz")) + sorted(
    (FIXTURES / "real_shaped").glob("*.jsonl.gz")) + [REAL_RECORDING]
FIRST_LINES = 30_000  # of each recording: every channel and frame shape, in seconds


def assert_same_chunk(got: ex.Chunk, want: ex.Chunk) -> None:
    """Every part of two chunks equal; floats compared bit for bit (NaN positions, -0.0)."""
    assert got.first_line == want.first_line
    for name in ("recv", "kind"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert got.coins == want.coins and got.intervals == want.intervals
    assert got.dead == want.dead
    assert list(got.tables) == list(want.tables)
    for table, columns in want.tables.items():
        assert list(got.tables[table]) == list(columns), table
        for col, b in columns.items():
            a = got.tables[table][col]
            assert a.dtype == b.dtype and a.shape == b.shape, (table, col)
            if b.dtype.kind == "f":
                assert np.array_equal(a.view(np.int64), b.view(np.int64)), (table, col)
            else:
                assert np.array_equal(a, b), (table, col)


def both(lines: list[bytes], first_line: int = 1) -> tuple[ex.Chunk, ex.Chunk]:
    """(typed, generic) chunks of `lines`; the numba scan's (lotus_core.feed.scan) is
    checked equal to the generic one on the way."""
    want = chunks.extract_chunk(first_line, lines, typed=False)
    assert_same_chunk(chunks.extract_chunk(first_line, lines, scan=True), want)
    return chunks.extract_chunk(first_line, lines, scan=False), want


def _lines(path: Path, limit: int | None = None) -> list[bytes]:
    """The recording's lines, as the parse reads them (a cut-off gzip stream ends early)."""
    with open_recording(path) as reader:
        return list(itertools.islice(reader, limit))


# -- the recordings ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recordings_extract_the_same_either_way(path: Path) -> None:
    lines = _lines(path, FIRST_LINES)
    half = len(lines) // 2  # two chunks, the second not starting at line 1
    for first, part in ((1, lines[:half]), (half + 1, lines[half:])):
        assert_same_chunk(*both(part, first))


@pytest.mark.parametrize("path", [FIXTURES / "2026-01-02.jsonl.gz", REAL_RECORDING],
                         ids=lambda p: p.name)
def test_the_typed_decoder_reads_every_data_line_of_a_clean_recording(path: Path) -> None:
    """Not a vacuous equality: the fast path really reads the data frames (a field the
    venue adds would send every line the slow way; this test says so)."""
    lines = _lines(path, FIRST_LINES)
    data = [x for x in lines if any(f'"channel":"{c}"'.encode() in x for c in
                                    ("l2Book", "trades", "bbo", "activeAssetCtx", "candle"))]
    assert len(data) > len(lines) // 2
    refused = []
    for line in data:
        try:
            decode_record(line)
        except REFUSED:
            refused.append(line)
    assert refused == []


# -- crafted lines: every reason, and every way the typed decoder must step aside -------------

T = 1_767_312_000_000  # 2026-01-02 00:00 UTC
LV = {"px": "100.5", "sz": "2", "n": 3}
ASK = {"px": "101.0", "sz": "1.25", "n": 1}


def _rec(msg: object, recv: object = T) -> bytes:
    return json.dumps({"recv_ts_ms": recv, "msg": msg}, separators=(",", ":")).encode() + b"\n"


def _book(**data: object) -> dict:
    return {"channel": "l2Book", "data": {"coin": "BTC", "time": T - 5,
                                          "levels": [[LV], [ASK]], **data}}


def _trade(**fields: object) -> dict:
    return {"coin": "ETH", "side": "B", "px": "3000.5", "sz": "0.1", "time": T - 3,
            "hash": "0xab", "tid": 77, "users": ["0x1", "0x2"], **fields}


def _bbo(**data: object) -> dict:
    return {"channel": "bbo", "data": {"coin": "SOL", "time": T - 2, "bbo": [LV, ASK], **data}}


def _ctx(**ctx: object) -> dict:
    base = {"funding": "0.0000125", "openInterest": "1000.5", "prevDayPx": "99.0",
            "dayNtlVlm": "1.0", "premium": "-0.0003", "oraclePx": "100.1", "markPx": "100.2",
            "midPx": "100.25", "impactPxs": ["100.2", "100.3"], "dayBaseVlm": "5.5"}
    return {"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": {**base, **ctx}}}


def _candle(**data: object) -> dict:
    return {"channel": "candle", "data": {"t": T - 60_000, "T": T - 1, "s": "BTC", "i": "1m",
                                          "o": "1", "c": "2", "h": "3", "l": "0.5", "v": "9",
                                          "n": 4, **data}}


def _drop(msg: dict, key: str) -> dict:
    data = dict(msg["data"])
    del data[key]
    return {**msg, "data": data}


GOOD = [
    _rec(_book()), _rec(_book(fast=True, levels=[[LV] * 5, [ASK] * 5])),
    _rec(_book(levels=[[], []])), _rec(_book(levels=[[LV] * MAX_LEVELS, [ASK] * MAX_LEVELS])),
    _rec(_book(spread="0.5")), _rec(_book(fast=False)),
    _rec({"channel": "trades", "data": [_trade(), _trade(side="A", tid=78)]}),
    _rec({"channel": "trades", "data": [{k: v for k, v in _trade().items()
                                         if k not in ("hash", "users")}]}),
    _rec(_bbo()), _rec(_bbo(bbo=[None, ASK])), _rec(_bbo(bbo=[LV, None])),
    _rec(_bbo(bbo=[None, None])),
    _rec(_ctx()), _rec(_ctx(midPx=None, premium=None)),
    _rec({"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": {
        "funding": "0", "openInterest": "1", "oraclePx": "2", "markPx": "3"}}}),
    _rec(_candle()), _rec(_candle(i="1h", s="ETH")),
    # odd but valid: read by the typed decoder, and it must read what orjson reads
    b'{ "recv_ts_ms" : 1767312000000 , "msg" : { "channel" : "bbo" , "data" : {"coin":"BTC",'
    b'"time":1,"bbo":[null,{"px":"1","sz":"2","n":1}]} } }\r\n',
    _rec(_bbo(coin="\u00e9\u20ac\U0001f600")),                        # non-ASCII, verbatim
    b'{"recv_ts_ms":1767312000000,"msg":{"channel":"bbo","data":{"coin":"\\u0042\\ud83d\\ude00'
    b'","time":1,"bbo":[null,null]}}}\n',                             # escapes
    b'{"recv_ts_ms":1,"recv_ts_ms":1767312000000,"msg":{"channel":"bbo","data":{"coin":"A",'
    b'"time":1,"bbo":[null,null],"time":2}}}\n',                       # duplicate keys: last
    _rec(_bbo(coin="")), _rec(_book(coin="")),                        # empty coin: code -1
    _rec(_bbo(time=-(2**63))), _rec(_bbo(time=2**63 - 1)), _rec(_book(time=0), recv=-0),
    _rec(_bbo(bbo=[{"px": "-0", "sz": "0.0", "n": 0}, {"px": "-0.0", "sz": "1e-400",
                                                        "n": -5}])),
    _rec(_bbo(bbo=[{"px": "1e5", "sz": "1E-7", "n": 1}, {"px": "nan", "sz": "inf", "n": 1}])),
    _rec(_book(levels=[[{"px": "abc", "sz": "1", "n": 1}], []])),    # row kept, ok False
    _rec(_bbo(bbo=[{"px": " 1", "sz": "1_000", "n": 1}, None])),     # float() reads these
    _rec(_book(levels=[[{"px": "1", "sz": "1"}], []])),              # n is not checked
    _rec(_ctx(premium="x")),
]

FALLBACK = [  # every one read the generic way: the typed decoder must refuse it
    b"", b"\n", b"   \n",                                             # blank: text
    b"{not json\n", b'{"recv_ts_ms":1,"msg":{"channel":"bbo"\n',      # malformed_json
    b'{"recv_ts_ms":1,"msg":{"channel":"bbo","data":{"coin":"\xff","time":1,"bbo":[null,'
    b'null]}}}\n',                                                    # invalid UTF-8
    b'{"recv_ts_ms":1,"msg":{"channel":"bbo","data":{"coin":"A","time":1,"bbo":[null,null],'
    b'"x":"\xed\xa0\x80"}}}\n',                                       # ... in an extra field
    b'{"recv_ts_ms":1,"msg":{"channel":"bbo","data":{"coin":"A","time":1,"bbo":[null,null],'
    b'"x":1e999}}}\n',                                                # number out of range
    b'{"recv_ts_ms":1,"msg":{"channel":"bbo","data":{"coin":"A","time":1' + b"0" * 400 +
    b',"bbo":[null,null]}}}\n',
    b'{"recv_ts_ms":1,"msg":{"channel":"bbo","data":{"coin":"\\ud800","time":1,"bbo":[null,'
    b'null]}}}\n',                                                    # a lone surrogate
    _rec("Websocket connection established."), _rec(""),             # text frames
    _rec("not the greeting {"),                                       # malformed_json (text)
    b'["recv_ts_ms", 1]\n', b'{"msg":{"channel":"pong"}}\n',          # bad_record
    _rec({"channel": "pong"}, recv=1.5), _rec({"channel": "pong"}, recv=True),
    _rec({"channel": "pong"}, recv="1"), b'{"recv_ts_ms":1}\n',
    _rec(_bbo(), recv=2**64), _rec(_bbo(), recv=-(2**63) - 1),
    _rec(5), _rec({"data": {}}), _rec({"channel": 7, "data": {}}),  # malformed_message
    _rec([_bbo()]),
    _rec({"channel": "mystery", "data": {}}),                         # unknown_channel
    _rec({"channel": "subscriptionResponse", "data": {"method": "subscribe"}}),
    _rec({"channel": "pong"}), _rec({"channel": "error", "data": "Already subscribed: x"}),
    _rec({"channel": "activeSpotAssetCtx", "data": {"coin": "@1"}}),  # ignored
    _rec({"channel": "lotusGap", "data": {"start_ms": T - 9, "end_ms": T, "reason": "stall",
                                          "coins": ["BTC", "ETH"]}}),
    _rec({"channel": "lotusGap", "data": {"start_ms": T - 9, "end_ms": None,
                                          "reason": "disconnect", "coins": None}}),
    _rec({"channel": "lotusGap", "data": {"start_ms": T, "end_ms": T - 9,
                                          "reason": "stall"}}),       # malformed_lotusGap
    _rec({"channel": "l2Book"}), _rec(_book(time=1.0)),               # malformed_l2Book
    _rec(_book(time="1")), _rec(_book(time=True)), _rec(_book(coin=5)),
    _rec(_book(levels=[[LV]])), _rec(_book(levels=[[LV], [ASK], []])),
    _rec(_book(levels=[[LV] * (MAX_LEVELS + 1), []])),
    _rec(_book(levels=[[], [ASK] * (MAX_LEVELS + 1)])),
    _rec(_book(levels=[[{"sz": "1", "n": 1}], []])), _rec(_book(levels=[[None], []])),
    _rec(_book(levels=[[{"px": 100.5, "sz": "1", "n": 1}], []])),  # float() reads it
    _rec(_book(levels=[[{"px": None, "sz": "1", "n": 1}], []])),
    _rec(_book(levels=[[{"px": "1", "sz": "1", "n": "3"}], []])),    # n: not checked there
    _rec(_book(levels=[[{"px": "1", "sz": "1", "n": 2**70}], []])),
    _rec(_book(levels=[[{"px": "1", "sz": "1", "n": 1, "extra": 1}], []])),
    _rec(_book(fast=None)), _rec(_book(fast=1)), _rec(_book(spread=1)),
    _rec(_book(extra=[1, 2])), _rec({**_book(), "extra": 1}),
    _rec(_drop(_book(), "coin")), _rec({"channel": "l2Book", "data": []}),
    _rec({"channel": "trades", "data": []}),                          # malformed_trades
    _rec({"channel": "trades", "data": {}}),
    _rec({"channel": "trades", "data": [_trade(side="X")]}),
    _rec({"channel": "trades", "data": [_trade(), _trade(side="b")]}),
    _rec({"channel": "trades", "data": [{k: v for k, v in _trade().items() if k != "tid"}]}),
    _rec({"channel": "trades", "data": [_trade(time=1.0)]}),         # row kept, ok False
    _rec({"channel": "trades", "data": [_trade(tid=2**64 - 1)]}),
    _rec({"channel": "trades", "data": [_trade(px=1)]}),
    _rec({"channel": "trades", "data": [_trade(users=None)]}),
    _rec({"channel": "trades", "data": [_trade(coin=None)]}),
    _rec({"channel": "trades", "data": [_trade(hash=1)]}),
    _rec(_bbo(bbo=[LV])), _rec(_bbo(bbo=[LV, ASK, None])),           # malformed_bbo
    _rec(_bbo(bbo=[[1, 2], None])), _rec(_bbo(bbo=[{"px": "1"}, None])),
    _rec(_bbo(bbo=None)), _rec(_drop(_bbo(), "time")), _rec(_bbo(time=2**63)),
    _rec(_bbo(time=-(2**63) - 1)), _rec(_bbo(coin=None)), _rec(_bbo(time="5")),
    _rec(_bbo(bbo=[{"px": "1", "sz": 2, "n": 1}, None])),
    _rec(_ctx(funding=None)), _rec(_ctx(markPx=1.5)),                 # malformed_activeAssetCtx
    _rec(_ctx(midPx=5)), _rec(_ctx(impactPxs=[1])),
    _rec(_ctx(brandNew="1")), _rec({"channel": "activeAssetCtx", "data": {"coin": "BTC"}}),
    _rec({"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": []}}),
    _rec(_drop(_candle(), "n")), _rec(_candle(t=1.5)),              # malformed_candle
    _rec(_candle(o=None)), _rec(_candle(s=5)), _rec(_candle(i=None)),
    _rec(_candle(T="1")), _rec({"channel": "candle", "data": [_candle()["data"]]}),
    b'{"recv_ts_ms":1,"msg":{"channel":"bbo","data":{"coin":"A","time":1,"bbo":[null,null]}'
    b',"channel":"trades"}}\n',                                       # duplicate channel
    b'{"recv_ts_ms":1,"msg":{"channel":"candle","data":1},"msg":{"channel":"bbo","data":'
    b'{"coin":"A","time":1,"bbo":[null,null]}}}\n',                   # duplicate msg
    b'{"recv_ts_ms":1,"msg":{"channel":"bbo","data":{"coin":"A","time":1,"bbo":[null,null]}}}'
    b'{"recv_ts_ms":1}\n',                                            # trailing data
    b'{"recv_ts_ms":1,"msg":{"channel":"bbo","data":{"coin":"A","time":1,"bbo":[null,null],'
    b'"x":' + b"[" * 3000 + b"]" * 3000 + b"}}}\n",                   # too deep for orjson
]

CRASH_BOTH = [  # no chunk either way (an int64 overflow); the typed decoder refuses them
    _rec(_bbo(), recv=2**63), _rec(_book(time=2**63)),
]

REASONS = {"malformed_json", "bad_record", "malformed_message", "unknown_channel",
           "malformed_l2Book", "malformed_trades", "malformed_bbo", "malformed_activeAssetCtx",
           "malformed_candle", "malformed_lotusGap"}


def test_crafted_lines_cover_every_reason_and_every_kind() -> None:
    _, want = both(GOOD + FALLBACK)
    assert {d[4] for d in want.dead} == REASONS
    assert set(want.kind.tolist()) == {ex.BAD, ex.DATA, ex.TEXT, ex.CONTROL, ex.CONTROL + 1,
                                       ex.CONTROL + 2, ex.IGNORED, ex.GAP}
    assert not want.tables["books"]["ok"].all() and not want.tables["trades"]["ok"].all()


def typed_reads(line: bytes) -> bool:
    """Whether `ChunkBuilder.add_lines` reads `line` itself (else `add_line` does)."""
    try:
        rec = decode_record(line)
    except REFUSED:
        return False
    return all(len(side) <= MAX_LEVELS for side in getattr(rec.msg.data, "levels", ()))


@pytest.mark.parametrize("line", GOOD, ids=range(len(GOOD)))
def test_the_typed_decoder_reads_a_good_line(line: bytes) -> None:
    assert typed_reads(line)


@pytest.mark.parametrize("line", FALLBACK + CRASH_BOTH, ids=range(len(FALLBACK) + 2))
def test_a_line_not_exactly_the_contract_is_left_to_the_generic_path(line: bytes) -> None:
    assert not typed_reads(line)


@pytest.mark.parametrize("seed", range(3))
def test_crafted_lines_extract_the_same_either_way_in_any_order(seed: int) -> None:
    lines = GOOD + FALLBACK
    random.Random(seed).shuffle(lines)
    assert_same_chunk(*both(lines, first_line=1 + 1000 * seed))
    for line in lines:  # and one at a time, as a live batch of a frame is
        assert_same_chunk(*both([line]))


def test_mutated_real_lines_extract_the_same_either_way() -> None:
    """Random damage to fixture lines (a byte dropped, doubled or changed; a value swapped
    for another JSON value): whatever either path makes of them, both make the same."""
    rng = random.Random(7)
    source = _lines(FIXTURES / "2026-01-03.jsonl.gz", 4_000)[::10] + _lines(REAL_RECORDING)
    tokens = [b"null", b"true", b"1", b"-0", b"1.5", b"1e999", b'"x"', b'""', b"[]", b"{}",
              b'"1.0"', b"18446744073709551616", b'"\xff"', b",", b"]", b"}"]
    out = []
    for line in source:
        for _ in range(3):
            b = bytearray(line.rstrip(b"\n"))
            i = rng.randrange(len(b))
            op = rng.randrange(4)
            if op == 0:
                del b[i]
            elif op == 1:
                b[i:i] = b[i:i + 1]
            elif op == 2:
                b[i] = rng.choice(b'0123456789-.eE"{}[],:abnx ')
            else:
                j = b.find(b":", i)
                k = min((x for x in (b.find(b",", j), b.find(b"}", j)) if x > j), default=-1)
                if j < 0 or k < 0:
                    continue
                b[j + 1:k] = rng.choice(tokens)
            out.append(bytes(b) + b"\n")
    typed, reference = both(out)
    assert_same_chunk(typed, reference)
    assert len(reference.dead) > len(out) // 10  # the damage did reach the dead letters
    assert (reference.kind == ex.DATA).sum() > len(out) // 4  # and left many lines readable


def test_a_parsed_day_is_the_same_either_way(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole parse (tables, dead letters with their excerpts, counts, stats) over a
    recording of the crafted lines between real ones."""
    from lotus_core.feed import parse as parse_mod

    day = _lines(FIXTURES / "2026-01-02.jsonl.gz", 3_000)
    lines = day[:1500] + [x for x in GOOD + FALLBACK if x.strip()] + day[1500:]
    path = write_recording(tmp_path / "2026-01-02.jsonl.gz", [x.rstrip(b"\r\n") for x in lines])
    typed = parse_recording(path, workers=1)

    real = chunks.extract_chunk

    def reference(first_line: int, chunk: list[bytes]) -> ex.Chunk:
        return real(first_line, chunk, typed=False)

    monkeypatch.setattr(parse_mod.chunks, "extract_chunk", reference)
    want = parse_recording(path, workers=1)
    assert typed.dead == want.dead and len(want.dead) > 50
    assert typed.counts == want.counts and typed.stats == want.stats
    for name in ("trades", "bbo", "ctx", "candles"):
        assert getattr(typed, name).equals(getattr(want, name)), name
    assert typed.books.meta.equals(want.books.meta)
    for m in ("bid_px", "bid_sz", "ask_px", "ask_sz"):
        assert np.array_equal(getattr(typed.books, m), getattr(want.books, m), equal_nan=True)


# -- book levels parsed on the way (ChunkBuilder._settle_levels) ------------------------------


def test_a_string_arrow_reads_as_a_finite_number_float_reads_to_the_same_bits() -> None:
    """What makes parsing on the way equal parsing at the end: a chunk whose strings are not
    all Arrow's is parsed by `float` one by one, so the parts parsed by Arrow already must
    be what `float` makes of them."""
    rng = random.Random(3)
    alphabet = "0123456789" * 4 + "+-.eE" * 3 + " _xXpnNaAiIfFtTyY\t\u0661\u2212"
    cands = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
             for _ in range(15_000)}
    cands |= {"".join(rng.choice("0123456789") for _ in range(rng.randint(15, 30)))
              + rng.choice(["", ".5", "e-300", "e308", "e-330", "E+22"]) for _ in range(500)}
    cands |= {"nan", "-nan", "NaN", "inf", "-inf", "Infinity", "1e400", "1e-400", "+1", ".5",
              "1.", "-0", "0x10", "1_0", "1e5.0", "2.2250738585072011e-308", "4.9e-324",
              "1.7976931348623157e308", "1.7976931348623159e308", "9007199254740993"}
    read = 0
    for s in sorted(cands):
        got = ex._finite_floats([s])
        if got is None:
            continue
        read += 1
        assert np.float64(float(s)).view(np.int64) == got.view(np.int64)[0], s
    assert read > 1_000


ODD_LEVELS = ["nan", "-nan", "inf", "-Infinity", "1e400", "1_000", " 1", "abc", "", 100.5, 7,
              None, True, ["1"], "+1", ".5", "1.", "-0", "00.10", "\u0661"]


@pytest.mark.parametrize("where", [0.05, 0.5, 0.999])
@pytest.mark.parametrize("odd", ODD_LEVELS, ids=repr)
def test_books_parsed_on_the_way_equal_books_parsed_at_the_end(odd: object,
                                                               where: float) -> None:
    lines = _lines(FIXTURES / "2026-01-02.jsonl.gz", 5 * ex._SETTLE_LINES)
    at = int(len(lines) * where)
    lines.insert(at, _rec(_book(levels=[[LV, {"px": "99", "sz": odd, "n": 1}], [ASK]])))
    lines.insert(at + 7, _rec(_book(levels=[[LV], [{"px": odd, "sz": "1", "n": 1}]])))
    assert_same_chunk(*both(lines, first_line=11))


def test_levels_are_parsed_on_the_way_unless_one_is_no_finite_number() -> None:
    lines = _lines(FIXTURES / "2026-01-02.jsonl.gz", 5 * ex._SETTLE_LINES)
    clean = ex.ChunkBuilder(1)
    clean.add_lines(lines)
    assert len(clean._px_parts) >= 3 and not clean._unsettled
    assert sum(map(len, clean._px_parts)) > 2 * len(clean.book_px)
    odd = ex.ChunkBuilder(1)
    odd.add_lines(lines[:10] + [_rec(_book(levels=[[{"px": "nan", "sz": "1"}], []]))]
                  + lines[10:])
    assert odd._px_parts == [] and odd._unsettled


# -- the comparison can fail -------------------------------------------------------------------


def test_the_comparison_sees_any_difference() -> None:
    lines = _lines(REAL_RECORDING)[:20] + FALLBACK[:12]
    want = chunks.extract_chunk(1, lines, typed=False)

    def differs(change: Callable[[ex.Chunk], object]) -> bool:
        got = chunks.extract_chunk(1, lines)
        assert_same_chunk(got, want)
        change(got)
        try:
            assert_same_chunk(got, want)
        except AssertionError:
            return True
        return False

    def one_ulp(c: ex.Chunk) -> None:
        px = c.tables["books"]["px"] = c.tables["books"]["px"].copy()  # Arrow's: read-only
        px[3] = np.nextafter(px[3], np.inf)

    assert differs(one_ulp)
    assert differs(lambda c: c.dead.__setitem__(0, c.dead[0][:5] + ("other",) + c.dead[0][6:]))
    assert differs(lambda c: c.kind.__setitem__(-1, ex.DATA))
    assert differs(lambda c: c.recv.__setitem__(0, c.recv[0] + 1))
    assert differs(lambda c: c.tables["trades"].__setitem__(
        "tid", c.tables["trades"]["tid"].astype(np.int32)))
    assert differs(lambda c: c.coins.append("XYZ"))
    zero, minus_zero = (chunks.extract_chunk(1, [_rec(_bbo(bbo=[{"px": px, "sz": "1"}, None]))])
                        for px in ("0.0", "-0.0"))
    with pytest.raises(AssertionError):
        assert_same_chunk(zero, minus_zero)


BEYOND_INT64 = 2**63 + 5


@pytest.mark.parametrize("typed", [True, False])
def test_an_integer_beyond_int64_is_a_dead_letter_not_an_overflow(typed: bool) -> None:
    """A receive time, a book's time or a gap's bound past int64 (JSON allows it, orjson
    reads it as an int) is refused with its reason; the chunk's other lines are kept. Such
    a value used to overflow the int64 column and stop the whole parse."""
    book = ('{"coin":"BTC","time":%d,"levels":[[{"px":"1","sz":"1","n":1}],'
            '[{"px":"2","sz":"1","n":1}]]}')
    lines = [
        (b'{"recv_ts_ms":%d,"msg":{"channel":"trades","data":[{"coin":"BTC","side":"B",'
         b'"px":"1","sz":"1","time":1,"tid":1}]}}\n' % BEYOND_INT64),
        ('{"recv_ts_ms":1,"msg":{"channel":"l2Book","data":%s}}\n'
         % (book % BEYOND_INT64)).encode(),
        (b'{"recv_ts_ms":1,"msg":{"channel":"lotusGap","data":{"start_ms":%d,"end_ms":null,'
         b'"reason":"stall","coins":null}}}\n' % BEYOND_INT64),
        ('{"recv_ts_ms":2,"msg":{"channel":"l2Book","data":%s}}\n' % (book % 5)).encode(),
    ]
    chunk = chunks.extract_chunk(1, lines, typed=typed)
    assert [d[4] for d in chunk.dead] == ["bad_record", "malformed_l2Book",
                                          "malformed_lotusGap"]
    assert chunk.kind.tolist() == [ex.BAD, ex.BAD, ex.BAD, ex.DATA]
    assert chunk.tables["books"]["time"].tolist() == [5]
