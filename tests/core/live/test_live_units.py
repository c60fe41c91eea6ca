"""Backoff, staleness and the crash-safe recorder, on their own."""

from __future__ import annotations

import gzip
import os
import random
from pathlib import Path

import pytest

from lotus_core.feed.parse import parse_recording
from lotus_core.live.backoff import Backoff
from lotus_core.live.recorder import DayRecorder, repair_tail
from lotus_core.live.stale import StaleTracker
from lotus_core.venues.hyperliquid.wire import record_line

DAY_MS = 1_767_312_000_000  # 2026-01-02 00:00 UTC


def test_backoff_doubles_to_the_cap_with_seeded_jitter_and_resets():
    a, b = Backoff(seed=3), Backoff(seed=3)
    delays = [a.next_s() for _ in range(8)]
    assert delays == [b.next_s() for _ in range(8)]  # seeded: the same every run
    bases = [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert all(base / 2 <= d <= base for d, base in zip(delays, bases, strict=True))
    a.reset()
    assert a.next_s() <= 0.25


def test_stale_when_silent_or_time_frozen_and_periods_logged():
    t = StaleTracker({"l2Book": 10.0, "trades": 0.0})
    t.watch("l2Book", "BTC", 0)
    t.watch("trades", "BTC", 0)  # limit 0: never stale (a quiet market trades rarely)
    t.frame("l2Book", "BTC", 1_000, venue_time=1)
    assert t.check(5_000) == []
    (opened,) = t.check(11_001)
    assert opened.coin == "BTC" and opened.start_ms == 11_000 and t.is_stale("BTC")
    t.frame("l2Book", "BTC", 12_000, venue_time=2)
    (closed,) = t.check(12_000)
    assert closed.end_ms == 12_000 and not t.is_stale("BTC")
    for ms in range(13_000, 30_000, 1_000):  # frames keep coming, venue time stuck
        t.frame("l2Book", "BTC", ms, venue_time=2)
    t.check(29_000)
    assert t.is_stale("BTC") and t.open["BTC"].start_ms == 22_000


def _drive(trackers: tuple[StaleTracker, ...], kinds: list[str], now: int,
           rng: random.Random, venue: dict, carried: list[str] | None = None) -> None:
    """One 50 ms tick of a seeded feed into every tracker alike: the watches (at 0 and a
    second subscription at 200 s), then each carried channel's frames, with quiet
    stretches, silences and frozen venue clocks by phase."""
    if now in (0, 200_000):
        for t in trackers:
            for kind in kinds:
                for coin in ("BTC", "ETH", "SOL" if now else "ETH"):
                    t.watch(kind, coin, now)
    phase = (now // 20_000) % 4
    for kind in kinds if carried is None else carried:
        for coin in ("BTC", "ETH", "SOL"):
            if phase == 1 and coin == "ETH" or rng.random() < 0.02 * (phase + 1):
                continue
            if not (phase == 2 and coin == "BTC"):
                venue[kind, coin] = venue.get((kind, coin), 0) + rng.randint(0, 3)
            for t in trackers:
                t.frame(kind, coin, now, venue.get((kind, coin)))


def test_stale_checks_skipped_while_quiet_change_no_period():
    """`check` skips its scan until a stream could pass its limit: a seeded mix of silent,
    frozen and recovering streams gives the periods of a tracker that always scans."""
    rng = random.Random(7)
    limits = {"l2Book": 3.0, "l2BookFast": 1.0, "activeAssetCtx": 5.0}
    fast, full = StaleTracker(limits), StaleTracker(limits)
    got: list = []
    want: list = []
    venue = {}
    for now in range(0, 400_000, 50):
        _drive((fast, full), list(limits), now, rng, venue)
        got += [(now, p.coin, p.start_ms, p.end_ms, tuple(p.streams)) for p in fast.check(now)]
        full._quiet_until = None
        want += [(now, p.coin, p.start_ms, p.end_ms, tuple(p.streams)) for p in full.check(now)]
    assert got == want and len(want) >= 20


def test_a_tracker_asked_only_when_due_gives_the_same_periods_and_absent_channels():
    """The feed loop skips `check` and `absent` until `due_ms`: a seeded mix of silent,
    frozen and recovering streams, a channel that never delivers and one that starts late
    give the same periods (at the same times) and absent lists as a tracker asked every
    100 ms."""
    rng = random.Random(11)
    limits = {"l2Book": 3.0, "bbo": 1.0, "activeAssetCtx": 5.0, "candle": 70.0}
    lazy, every = StaleTracker(limits), StaleTracker(limits)
    got: list = []
    want: list = []
    venue: dict = {}
    for now in range(0, 400_000, 50):
        # candles never carried; activeAssetCtx carried only from 90 s on
        carried = [k for k in limits if k != "candle" and (k != "activeAssetCtx" or now >= 90_000)]
        _drive((lazy, every), list(limits), now, rng, venue, carried)
        if now % 100:
            continue
        if now >= lazy.due_ms:
            got.append((now, "absent", tuple(lazy.absent(now))))
            got += [(now, p.coin, p.start_ms, p.end_ms, tuple(p.streams))
                    for p in lazy.check(now)]
        want.append((now, "absent", tuple(every.absent(now))))
        want += [(now, p.coin, p.start_ms, p.end_ms, tuple(p.streams)) for p in every.check(now)]

    def changes(log: list) -> list:  # the absent list only when it changed, every period
        out, last = [], None
        for item in log:
            if item[1] == "absent":
                if item[2] != last:
                    out.append(item)
                    last = item[2]
            else:
                out.append(item)
        return out

    assert changes(got) == changes(want)
    assert len([x for x in want if x[1] != "absent"]) >= 20
    asked = sum(1 for x in got if x[1] == "absent")
    assert asked < 0.6 * sum(1 for x in want if x[1] == "absent")  # it does skip
    assert ("candle",) in {x[2] for x in want if x[1] == "absent"}


def _line(ms: int, n: int) -> bytes:
    return record_line(ms, f'{{"channel":"bbo","data":{{"coin":"BTC","time":{n},"bbo":'
                       '[{"px":"1.0","sz":"1","n":1},{"px":"2.0","sz":"1","n":1}]}}')


def test_recorder_rotates_at_midnight_and_a_torn_tail_is_repaired_on_reopen(tmp_path):
    rec = DayRecorder(tmp_path)
    for i in range(5):
        rec.write(DAY_MS - 3 + i, _line(DAY_MS - 3 + i, i))
        rec.flush()
    rec.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-01-01.jsonl.gz",
                                                          "2026-01-02.jsonl.gz"]
    day = tmp_path / "2026-01-02.jsonl.gz"
    assert len(gzip.decompress(day.read_bytes()).splitlines()) == 2
    whole = day.read_bytes()
    with open(day, "ab") as f:  # a member torn by a power cut
        f.write(gzip.compress(bytes(range(256)) * 40)[:40])
    assert repair_tail(day) == (40, 2)
    assert day.read_bytes() == whole
    rec = DayRecorder(tmp_path)  # a restart appends to the same day
    rec.write(DAY_MS + 10, _line(DAY_MS + 10, 9))
    rec.close()
    assert rec.day_lines == 3
    feed = parse_recording(day)
    assert feed.stats["lines"] == 3 and not feed.dead and len(feed.bbo) == 3


def test_each_flush_is_a_valid_recording_without_close(tmp_path):
    rec = DayRecorder(tmp_path)
    rec.write(DAY_MS + 1, _line(DAY_MS + 1, 1))
    rec.flush()
    rec.write(DAY_MS + 2, _line(DAY_MS + 2, 2))  # written but not flushed: may be lost
    fd = os.dup(rec._fd)  # noqa: SLF001 - the file as a killed process leaves it
    os.close(fd)
    feed = parse_recording(tmp_path / "2026-01-02.jsonl.gz")
    assert feed.stats["lines"] == 1 and not feed.dead


def test_background_recorder_writes_the_same_members_in_order(tmp_path):
    """The feed loop's recorder compresses and writes in a thread of its own: a flush's
    `after` (the feed loop hands the batch to the scorer there) runs once its member is on
    disk, and the file is what the inline recorder writes, byte for byte (across a
    midnight too)."""
    bg, inline = tmp_path / "bg", tmp_path / "inline"
    recs = [DayRecorder(bg, background=True), DayRecorder(inline)]
    for i in range(50):
        for rec in recs:
            rec.write(DAY_MS - 25 + i, _line(DAY_MS - 25 + i, i))
            if i % 7 == 0:
                rec.flush()
    seen: list[int] = []  # what the file holds when a flush's `after` runs
    recs[0].flush(after=lambda: seen.append(
        parse_recording(bg / "2026-01-02.jsonl.gz").stats["lines"]))
    recs[0].sync()
    assert seen == [25]
    for rec in recs:
        rec.close()
    for name in ("2026-01-01.jsonl.gz", "2026-01-02.jsonl.gz"):
        assert (bg / name).read_bytes() == (inline / name).read_bytes()


def test_contract_example_frames_route_to_their_subscription():
    import json

    from lotus_core.venues.hyperliquid.wire import normalise, route
    from tests.helpers import CONTRACT_FRAMES

    for line in CONTRACT_FRAMES.read_text().splitlines():
        msg = json.loads(line)
        key = route(msg)
        sub = {"type": msg["channel"], "coin": key[1]}
        if msg["channel"] == "candle":
            sub["interval"] = msg["data"]["i"]
        if msg["channel"] == "l2Book" and msg["data"].get("fast"):
            sub["fast"] = True
        assert normalise(sub)[0] == key



@pytest.mark.parametrize("line", [
    b'{"recv_ts_ms":17,"msg":{"channel":"bbo","data":{"coin":"BTC"}}}\n',
    b'{"recv_ts_ms":-17,"msg":"Websocket connection established."}\r\n',
    b'{"recv_ts_ms": 17,"msg":{}}\n',                 # spaces: the regex's case
    b'{"recv_ts_ms":17,"msg" : {}}\n',
    b'{"recv_ts_ms":17,"msg":{"x":"}"}} }\n',        # the last brace closes the record
    b'{"recv_ts_ms":1-2,"msg":{}}\n', b'{"recv_ts_ms":,"msg":{}}\n',
    b'{"recv_ts_ms":17,"msg":{}\n', b'{"recv_ts_ms":17,"msg":"unterminated}\n',
    b'{"msg":{},"recv_ts_ms":17}\n', b"not a record\n",
])
def test_split_record_fast_path_is_the_regex(line):
    """The two-find split captures what the regex captures, or leaves the line to it (what
    `split_record` does with the capture is the same either way)."""
    assert _same_as_regex(line)


def _same_as_regex(line: bytes) -> bool:
    from lotus_core.venues.hyperliquid import wire

    m = wire._LINE.match(line)
    fast = wire._split_plain(line)
    return fast is None or (m is not None and fast == (m.group(1), m.group(2)))


def _faulty_lines(tmp_path) -> list[bytes]:
    from tests.core.feed.test_feed_parse import _faulty_copy

    src = Path(__file__).resolve().parents[3] / "fixtures" / "2026-01-02.jsonl.gz"
    path = _faulty_copy(src, tmp_path / "faulty.jsonl.gz")
    return gzip.decompress(path.read_bytes()).splitlines(keepends=True)[:30_000]


def test_split_record_on_a_faulty_recording_is_the_regex(tmp_path):
    from lotus_core.venues.hyperliquid import wire

    lines = _faulty_lines(tmp_path)
    assert all(_same_as_regex(x) for x in lines)
    fast = sum(wire._split_plain(x) is not None for x in lines)
    assert 0 < fast < len(lines)  # both ways taken (the faulty copy re-dumps some lines
    # with spaces after the separators, as json.dumps does)



@pytest.mark.parametrize("raw", [
    b'{"channel":"bbo","data":{"coin":"BTC"}}', b'{"channel":"bbo",\n"data":{}}',
    b"Websocket connection established.", b"not json {", b'{"coin":"\xff\xfeBTC"}',
    "{\"coin\":\"\u00e9\"}".encode(),
])
def test_record_line_from_bytes_is_the_line_from_their_text(raw):
    """The feed loop records a frame from its bytes when orjson parsed them, from its
    text (invalid UTF-8 replaced) otherwise: the line is what the text would give."""
    import orjson

    text = raw.decode("utf-8", "replace")
    try:
        orjson.loads(raw)
        is_json = True
    except orjson.JSONDecodeError:
        is_json = False
    want = record_line(5, text, _is_json(text))
    assert record_line(5, raw if is_json else text, is_json) == want


def _is_json(text: str) -> bool:
    import orjson

    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True
