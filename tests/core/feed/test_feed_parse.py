"""The feed parser speaks the contract, accepts real frames, and dead-letters bad input."""

from __future__ import annotations

import gzip
import json
import random
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lotus_core.feed.parse import parse_recording
from tests.helpers import CONTRACT_FRAMES, REAL_RECORDING, day_of, record, write_recording

BOOK_T = 1_767_355_200_000  # 2026-01-02 12:00:00 UTC
DAY = "2026-01-02"


def _book(t: int, bid: str = "100.0", ask: str = "101.0", fast: bool = False, coin="BTC") -> dict:
    data = {"coin": coin, "time": t, "levels": [[{"px": bid, "sz": "1.5", "n": 2},
                                                  {"px": "99.0", "sz": "2.0", "n": 1}],
                                                 [{"px": ask, "sz": "0.5", "n": 1}]]}
    if fast:
        data["fast"] = True
    return {"channel": "l2Book", "data": data}


def _trade(t: int, tid: int, side: str = "B") -> dict:
    return {"coin": "BTC", "side": side, "px": "100.5", "sz": "0.1", "time": t,
            "hash": "0x" + "0" * 64, "tid": tid, "users": ["0xa", "0xb"]}


def test_every_contract_example_frame_parses(tmp_path):
    frames = [json.loads(line) for line in CONTRACT_FRAMES.read_text().splitlines()]
    assert {f["channel"] for f in frames} == {"l2Book", "trades", "bbo", "activeAssetCtx",
                                              "candle"}
    for frame in frames:
        data = frame["data"][0] if isinstance(frame["data"], list) else frame["data"]
        t = data.get("time") or data.get("t") or 1788490065008
        day = day_of(t)
        path = write_recording(tmp_path / frame["channel"] / f"{day}.jsonl.gz",
                               [record(t + 5, frame)])
        feed = parse_recording(path)
        assert feed.dead == [], (frame["channel"], feed.dead)
        assert sum(feed.counts.values()) == 1
    # the values land where they belong
    ctx = parse_recording(tmp_path / "activeAssetCtx" / f"{day_of(1788490065008)}.jsonl.gz").ctx
    assert ctx.loc[0, "open_interest"] == pytest.approx(36295.80812)
    assert ctx.loc[0, "oracle_px"] == pytest.approx(80684.7)


def test_real_frames_parse_with_no_dead_letters():
    feed = parse_recording(REAL_RECORDING)
    assert feed.dead == []
    assert feed.counts == {("l2Book", "BTC"): 45, ("trades", "BTC"): 9}
    assert feed.stats["resent_snapshots"] == 1  # the venue re-sent one snapshot unchanged
    books = feed.books
    assert (books.meta["n_bid"] == 20).all() and (books.meta["n_ask"] == 20).all()
    mid = (books.bid_px[:, 0] + books.ask_px[:, 0]) / 2
    assert np.all((mid > 104_000) & (mid < 106_000))
    spread_bps = (books.ask_px[:, 0] - books.bid_px[:, 0]) / mid * 1e4
    assert np.all((spread_bps > 0) & (spread_bps < 5))
    assert len(feed.trades) == 64 and set(feed.trades["side"]) == {-1, 1}


def test_control_frames_are_counted_not_dead(tmp_path):
    path = write_recording(tmp_path / f"{DAY}.jsonl.gz", [
        record(BOOK_T, "Websocket connection established."),
        record(BOOK_T + 1, {"channel": "subscriptionResponse", "data": {
            "method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC",
                                                    "nSigFigs": None, "mantissa": None}}}),
        record(BOOK_T + 2, {"channel": "pong"}),
        record(BOOK_T + 3, {"channel": "error", "data": "Already subscribed: {...}"}),
        record(BOOK_T + 4, _book(BOOK_T)),
    ])
    feed = parse_recording(path)
    assert feed.dead == []
    assert feed.stats["text_frames"] == 1 and feed.stats["pong_frames"] == 1
    assert feed.counts == {("l2Book", "BTC"): 1}


def test_random_corruption_never_crashes_and_loses_nothing(tmp_path):
    """Every line is either accepted, counted as control/resent, or dead-lettered."""
    rng = random.Random(7)
    lines = gzip.decompress(REAL_RECORDING.read_bytes()).splitlines()
    mutated = []
    for line in lines:
        if rng.random() < 0.4:
            i = rng.randrange(len(line))
            line = line[:i] + bytes([rng.randrange(256)]) + line[i + 1:]
        mutated.append(line)
    feed = parse_recording(write_recording(tmp_path / "2025-01-26.jsonl.gz", mutated))
    accepted = sum(feed.counts.values())
    others = sum(v for k, v in feed.stats.items() if k not in ("lines", "replayed_trades"))
    assert accepted + others + len({d.line_no for d in feed.dead}) == len(lines)


def test_chunked_conversion_equals_one_chunk_and_accounts_for_every_line(tmp_path, monkeypatch):
    """Many small chunks, in one process or two worker processes, give the same day as one
    chunk inline; no line goes missing."""
    import lotus_core.feed.parse as parse_mod
    from lotus_core.synth import default_spec, generate_day

    path = generate_day(tmp_path, date(2026, 1, 3), ["BTC", "SOL"], 5, default_spec(),
                        hours=(6, 7))[0]
    whole = parse_recording(path)
    monkeypatch.setattr(parse_mod, "_CHUNK_LINES", 997)
    for workers in (1, 2):
        chunked = parse_recording(path, workers=workers)
        assert whole.stats == chunked.stats and whole.counts == chunked.counts
        assert whole.dead == chunked.dead
        for name in ("trades", "bbo", "ctx", "candles"):
            pd.testing.assert_frame_equal(getattr(whole, name), getattr(chunked, name))
        pd.testing.assert_frame_equal(whole.books.meta, chunked.books.meta)
        for m in ("bid_px", "bid_sz", "ask_px", "ask_sz"):
            np.testing.assert_array_equal(getattr(whole.books, m), getattr(chunked.books, m))
    # every line is accepted, counted as control / re-sent, or dead-lettered
    accepted = sum(whole.counts.values())
    control = sum(v for k, v in whole.stats.items() if k not in ("lines", "replayed_trades"))
    assert accepted + control + len(whole.dead) == whole.stats["lines"]
    assert whole.stats["lines"] > 20 * 997


def test_a_lost_worker_falls_back_to_inline_extraction(tmp_path, monkeypatch):
    """The worker pool is only a speed-up: if a worker dies mid-parse the day is still parsed
    (inline), with the same result, and the caller is warned instead of left hanging."""
    import os

    import lotus_core.feed.parse as parse_mod
    from lotus_core.synth import default_spec, generate_day
    from tests.helpers import extract_or_die_in_worker

    path = generate_day(tmp_path, date(2026, 1, 3), ["ETH"], 9, default_spec(), hours=(3, 4))[0]
    inline = parse_recording(path, workers=1)
    monkeypatch.setenv("LOTUS_TEST_PARENT_PID", str(os.getpid()))
    monkeypatch.setattr(parse_mod, "_CHUNK_LINES", 2_000)
    monkeypatch.setattr(parse_mod, "_CHUNK_TIMEOUT_S", 5.0)
    monkeypatch.setattr(parse_mod.chunks, "extract_chunk", extract_or_die_in_worker)
    with pytest.warns(RuntimeWarning, match="parsing inline"):
        parsed = parse_recording(path, workers=2)
    assert parsed.stats == inline.stats and parsed.counts == inline.counts
    assert parsed.dead == inline.dead
    pd.testing.assert_frame_equal(parsed.trades, inline.trades)
    np.testing.assert_array_equal(parsed.books.bid_px, inline.books.bid_px)


def _parse_in_daemon(path: Path, out) -> None:  # noqa: ANN001 - a multiprocessing queue
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        feed = parse_recording(path, workers=2)
    out.put((feed.stats, feed.counts, len(feed.dead), feed.trades.to_dict("list"),
             feed.books.bid_px.tobytes(), [str(w.message) for w in seen]))


def test_a_daemonic_process_parses_inline(tmp_path):
    """A celery prefork pool's child is daemonic and may not start processes: raw_feed there
    parses inline, warned, with the same day (it failed on an AssertionError before)."""
    import multiprocessing as mp

    from lotus_core.synth import default_spec, generate_day

    path = generate_day(tmp_path, date(2026, 1, 3), ["ETH"], 9, default_spec(), hours=(3, 4))[0]
    inline = parse_recording(path, workers=1)
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_parse_in_daemon, args=(path, out), daemon=True)
    child.start()
    stats, counts, dead, trades, bid_px, warned = out.get(timeout=120)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert any("daemonic" in w and "inline" in w for w in warned), warned
    assert stats == inline.stats and counts == inline.counts and dead == len(inline.dead)
    assert trades == inline.trades.to_dict("list")
    assert bid_px == inline.books.bid_px.tobytes()


def test_cached_parse_serves_the_same_content_and_reparses_a_changed_file(tmp_path,
                                                                          monkeypatch):
    """`parse_recording_cached` (what FeedSource uses) keys on the file's sha256."""
    from lotus_core.feed import parse as P

    monkeypatch.setattr(P, "_CACHE", type(P._CACHE)())
    path = tmp_path / f"{DAY}.jsonl.gz"
    write_recording(path, [record(BOOK_T + 1, _book(BOOK_T))])
    first = P.parse_recording_cached(path)
    assert P.parse_recording_cached(path) is first
    assert first.sha256 == parse_recording(path).sha256
    write_recording(path, [record(BOOK_T + 1, _book(BOOK_T)),
                           record(BOOK_T + 2, _book(BOOK_T + 1, bid="100.5"))])
    second = P.parse_recording_cached(path)
    assert second is not first and second.sha256 != first.sha256
    assert len(second.books.meta) == 2 and len(first.books.meta) == 1
    monkeypatch.setenv("LOTUS_PARSE_CACHE", "0")
    assert P.parse_recording_cached(path) is not second


def _day_digest(feed) -> str:
    """sha256 over every value a parse yields: tables (names, dtypes, values), the four book
    matrices, counts, stats and dead letters."""
    import hashlib

    h = hashlib.sha256()
    frames = [feed.books.meta, feed.trades, feed.bbo, feed.ctx, feed.candles]
    for frame in frames:
        for col in frame.columns:
            values = frame[col].to_numpy()
            h.update(f"{col}:{frame[col].dtype}".encode())
            h.update("\n".join(map(str, values)).encode() if values.dtype == object
                     else np.ascontiguousarray(values).tobytes())
    for m in ("bid_px", "bid_sz", "ask_px", "ask_sz"):
        h.update(np.ascontiguousarray(getattr(feed.books, m)).tobytes())
    h.update(repr((sorted(feed.counts.items()), sorted(feed.stats.items()), feed.dead)).encode())
    return h.hexdigest()


def _faulty_copy(src, dst):
    """The fixture day with planted faults spread over many chunks: duplicated lines,
    swapped (late) lines, crossed and stale books, bad records and non-JSON lines."""
    out, n_book = [], 0
    for i, line in enumerate(gzip.decompress(src.read_bytes()).splitlines(keepends=True)):
        rec = json.loads(line)
        if isinstance(rec["msg"], dict) and rec["msg"].get("channel") == "l2Book":
            n_book += 1
            levels, data = rec["msg"]["data"]["levels"], rec["msg"]["data"]
            if n_book % 203 == 5 and levels[0] and levels[1]:
                levels[0][0]["px"] = str(float(levels[1][0]["px"]) + 1.0)  # crossed
            elif n_book % 151 == 7:
                data["time"] -= 10_000_000  # older than its stream's latest
            line = (json.dumps(rec) + "\n").encode()
        out.append(line)
        if i % 997 == 3:
            out.append(line)  # duplicate_frame
        if i % 3001 == 11:
            out += [b'{"recv_ts_ms": 5, "msg": {"channel": "l2Book"}}\n', b"not json\n"]
    for k in range(100, len(out) - 1, 4001):
        out[k], out[k + 1] = out[k + 1], out[k]  # the second is late
    dst.write_bytes(gzip.compress(b"".join(out), mtime=0))
    return dst


def test_parse_is_byte_identical_to_the_frozen_digest_whatever_the_chunks(tmp_path, monkeypatch):
    """The parser's memory layout (flat book levels in the chunks, columns filled chunk by
    chunk, row blocks) changes no value: a faulty day over many chunks, with small blocks and
    with two workers, gives the digest recorded before that layout existed (main d1e7d14)."""
    import lotus_core.feed.assemble as assemble_mod
    import lotus_core.feed.parse as parse_mod
    fixtures = Path(__file__).resolve().parents[3] / "fixtures"
    path = _faulty_copy(fixtures / "2026-01-02.jsonl.gz", tmp_path / "2026-01-02.jsonl.gz")
    whole = parse_recording(path, workers=1)
    assert len(whole.dead) == 784 and whole.stats["lines"] == 129_964
    assert _day_digest(whole) == FAULTY_DAY_DIGEST
    monkeypatch.setattr(parse_mod, "_CHUNK_LINES", 4_999)
    monkeypatch.setattr(assemble_mod, "_BLOCK_ROWS", 1_000)
    for workers in (1, 2):
        assert _day_digest(parse_recording(path, workers=workers)) == FAULTY_DAY_DIGEST


FAULTY_DAY_DIGEST = "b5a61130f1dddc7660d91f1d9bf8266fdcc869b8a5de22e581410ea784c27c52"
