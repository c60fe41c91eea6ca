"""raw_feed's table rules (`lotus_core.feed.assemble`): the rules themselves on the whole
day, and their equality test: `StreamAssembler` batch by batch (the live step, both its
vectorised and its row form) == `assemble_chunks` over the whole day (every table)."""

from __future__ import annotations

import json
import random

import numpy as np
import orjson
import pandas as pd
import pytest

from lotus_core.feed.assemble import StreamAssembler, assemble_chunks
from lotus_core.feed.chunks import extract_chunk
from lotus_core.feed.lines import line_keys
from lotus_core.feed.parse import parse_recording
from lotus_core.live.tail import TailBuffer
from tests.core.feed.test_feed_parse import BOOK_T, DAY, _book, _trade
from tests.helpers import REAL_RECORDING, record, write_recording
from tests.kits.live_kit import FIXTURE
from tests.kits.midnight import lines_of as _lines

# -- the rules, on the whole day ---------------------------------------------------------------


def test_bad_lines_become_dead_letters_with_reasons(tmp_path):
    good = record(BOOK_T + 10, _book(BOOK_T + 10))
    lines = [
        record(BOOK_T, _book(BOOK_T)),
        b"{not json",                                                   # malformed_json
        record(BOOK_T, "not json at all {"),         # a text frame, not the greeting: the same
        json.dumps({"msg": _book(BOOK_T)}),                             # bad_record
        record(BOOK_T + 1, {"channel": "mystery", "data": {}}),         # unknown_channel
        record(BOOK_T + 2, {"channel": "l2Book", "data": {"coin": "BTC", "time": "x",
                                                          "levels": [[], []]}}),
        record(BOOK_T + 3, _book(BOOK_T + 3, bid="102.0", ask="101.0")),  # crossed_book
        record(BOOK_T + 4, _book(BOOK_T - 50)),                         # stale snapshot
        record(BOOK_T + 5, _book(BOOK_T + 5, bid="abc")),               # malformed number
        record(BOOK_T + 6, {"channel": "trades", "data": [_trade(BOOK_T, 1)]}),
        record(BOOK_T + 7, {"channel": "trades", "data": [_trade(BOOK_T, 1)]}),  # all seen
        record(BOOK_T + 8, {"channel": "trades", "data": [{**_trade(BOOK_T, 2), "side": "X"}]}),
        good,
        good,                                                           # duplicate_frame
        record(BOOK_T + 9, _book(BOOK_T + 20)),                         # recv clock went back
        record(BOOK_T + 86_400_000, _book(BOOK_T + 86_400_000)),        # outside_day
    ]
    feed = parse_recording(write_recording(tmp_path / f"{DAY}.jsonl.gz", lines))
    reasons = [d.reason for d in feed.dead]
    assert reasons == ["malformed_json", "malformed_json", "bad_record", "unknown_channel",
                       "malformed_l2Book",
                       "crossed_book", "out_of_order", "malformed_l2Book", "duplicate_trades",
                       "malformed_trades", "duplicate_frame", "out_of_order", "outside_day"]
    assert all(d.detail and d.raw for d in feed.dead)
    assert feed.counts == {("l2Book", "BTC"): 2, ("trades", "BTC"): 1}
    assert len(feed.books) == 2 and len(feed.trades) == 1
    assert "time must be an integer" in feed.dead[4].detail
    assert "not JSON" in feed.dead[1].detail and feed.dead[1].raw.endswith('"not json at all {"}')


def test_replayed_trades_inside_a_fresh_frame_are_dropped_not_dead(tmp_path):
    path = write_recording(tmp_path / f"{DAY}.jsonl.gz", [
        record(BOOK_T, {"channel": "trades", "data": [_trade(BOOK_T, 1), _trade(BOOK_T, 2)]}),
        record(BOOK_T + 5, {"channel": "trades",
                            "data": [_trade(BOOK_T, 2), _trade(BOOK_T + 4, 3)]}),
    ])
    feed = parse_recording(path)
    assert feed.dead == [] and list(feed.trades["tid"]) == [1, 2, 3]
    assert feed.stats["replayed_trades"] == 1


def test_fast_and_slow_books_are_kept_apart(tmp_path):
    path = write_recording(tmp_path / f"{DAY}.jsonl.gz", [
        record(BOOK_T, _book(BOOK_T)),
        record(BOOK_T + 1, _book(BOOK_T - 100, fast=True)),  # older than slow: a separate stream
    ])
    feed = parse_recording(path)
    assert feed.dead == [] and list(feed.books.meta["fast"]) == [False, True]


# -- the live step == the whole day ---------------------------------------------------------


def _mangle(lines: list[bytes], seed: int) -> list[bytes]:
    """Duplicates, late lines and resent lines, as a flaky connection gives them."""
    rng = random.Random(seed)
    out = list(lines)
    for _ in range(len(lines) // 50):
        i = rng.randrange(1, len(out))
        j = max(0, i - rng.randrange(1, 40))
        out.insert(i, out[j])  # an earlier line again (a duplicate, or late)
    return out


def _batches(lines: list[bytes], seed: int) -> list[tuple[int, list[bytes]]]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(lines):
        n = rng.choice([1, 2, 7, 50, 400])
        out.append((i + 1, lines[i:i + n]))
        i += n
    return out


def _stream(day: str, lines: list[bytes], seed: int, strip: bool = False) -> TailBuffer:
    """`strip`: chunks without their empty tables, as the feed loop hands them out."""
    asm, buf = StreamAssembler(day), TailBuffer()
    for first, batch in _batches(lines, seed):
        chunk = extract_chunk(first, batch)
        if strip:
            chunk.tables = {k: v for k, v in chunk.tables.items() if v and len(v["recv"])}
        buf.add(asm.add(chunk, line_keys(batch)))
    return buf


def _batch(day: str, lines: list[bytes]):
    chunk = extract_chunk(1, lines)
    hashes = line_keys(lines)
    return assemble_chunks(f"live:{day}", day, [chunk], hashes, lambda wanted: {})


def _assert_tables_equal(a, b) -> None:
    pd.testing.assert_frame_equal(a.books.meta.reset_index(drop=True),
                                  b.books.meta.reset_index(drop=True))
    for m in ("bid_px", "bid_sz", "ask_px", "ask_sz"):
        np.testing.assert_array_equal(getattr(a.books, m), getattr(b.books, m))
    for name in ("trades", "bbo", "ctx", "candles"):
        pd.testing.assert_frame_equal(getattr(a, name).reset_index(drop=True),
                                      getattr(b, name).reset_index(drop=True), obj=name)


@pytest.mark.slow  # whole fixture minutes through the streaming path
@pytest.mark.parametrize(("path", "day", "limit"), [(REAL_RECORDING, "2025-01-26", None),
                                                    (FIXTURE, "2026-01-02", 15_000)])
@pytest.mark.parametrize("seed", [1, 2])
def test_streaming_assembly_equals_the_whole_day(path, day, limit, seed):
    lines = _mangle(_lines(path, limit), seed)
    want = _batch(day, lines)
    got = _stream(day, lines, seed).feed(day)
    assert len(want.books) and len(want.trades)
    _assert_tables_equal(got, want)


_DATA_CHANNELS = ("l2Book", "bbo", "trades", "candle", "activeAssetCtx")


def _broken(lines: list[bytes], seed: int) -> list[bytes]:
    """Lines built to break every table rule: books and bbo out of order, resent with a
    later receipt, crossed, malformed; trades replayed whole or in part, with a bad price;
    candles opened before the current one, or with l > o; contexts with a bad funding.
    Each copy keeps its receive time increasing, so the line-level rules let it through."""
    rng = random.Random(seed)
    out: list[bytes] = []
    recent: dict[str, list[dict]] = {}
    for line in lines:
        out.append(line)
        rec = orjson.loads(line)
        msg = rec.get("msg")
        if not isinstance(msg, dict) or msg.get("channel") not in _DATA_CHANNELS:
            continue
        ch, data = msg["channel"], msg["data"]
        recent.setdefault(ch, []).append(data)
        if rng.random() > 0.15:
            continue
        recv = rec["recv_ts_ms"]
        bad = json.loads(json.dumps(data))
        pick = rng.random()
        if ch in ("l2Book", "bbo"):
            if pick < 0.3:
                bad["time"] -= rng.randint(1, 5_000)  # out of order
            elif pick < 0.55:
                bad = recent[ch][rng.randrange(max(0, len(recent[ch]) - 3), len(recent[ch]))]
            elif pick < 0.75:
                side = bad["levels"] if ch == "l2Book" else bad["bbo"]
                side[0], side[1] = side[1], side[0]  # crossed
            else:
                side = bad["levels"][0] if ch == "l2Book" else bad["bbo"]
                side[0]["px"] = "abc"
        elif ch == "trades":
            if pick < 0.4:
                bad = recent[ch][rng.randrange(max(0, len(recent[ch]) - 5), len(recent[ch]))]
            elif pick < 0.7:
                old = recent[ch][rng.randrange(len(recent[ch]))]
                fresh = dict(bad[0], tid=bad[0]["tid"] + 7, px="0" if pick < 0.55 else "1.5")
                bad = [old[0], fresh]
            else:
                bad[0]["px"] = "-1"
        elif ch == "candle":
            if pick < 0.5:
                bad["t"] -= 60_000
            else:
                bad["l"] = str(float(bad["o"]) + 1)
        elif ch == "activeAssetCtx":
            bad["ctx"]["funding"] = "x"
        out.append(orjson.dumps({"recv_ts_ms": recv + 1,
                                 "msg": {"channel": ch, "data": bad}}) + b"\n")
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "strip"), [(3, False), (4, False), (5, True)])
def test_streaming_assembly_of_broken_lines_equals_the_whole_day(seed, strip):
    """Both paths (a table with a few new rows goes row by row) apply every rule as the
    whole-day assembly does; the broken copies are refused or accepted alike."""
    lines = _broken(_lines(FIXTURE, 12_000), seed)
    want = _batch("2026-01-02", lines)
    got = _stream("2026-01-02", lines, seed, strip).feed("2026-01-02")
    _assert_tables_equal(got, want)
    sent = {ch: 0 for ch in _DATA_CHANNELS}
    for line in lines:
        msg = orjson.loads(line).get("msg")
        if isinstance(msg, dict) and msg.get("channel") in sent:
            data = msg["data"]
            sent[msg["channel"]] += len(data) if isinstance(data, list) else 1
    accepted = {"l2Book": len(want.books), "bbo": len(want.bbo), "trades": len(want.trades),
                "candle": len(want.candles), "activeAssetCtx": len(want.ctx)}
    for ch, n in sent.items():  # every table refused some of what it was sent
        assert 0 < accepted[ch] < n, (ch, accepted[ch], n)
