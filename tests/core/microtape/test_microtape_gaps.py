"""Gap records (`lotusGap` lines) from the recording to the MicroTape's `gap` flag and the
detector windows: the nightly parse keeps them as the `gaps` table (never a dead letter),
`build_microtape` flags the rows from a gap's first record to its end plus the warm-up, the
row-by-row `TapeStream` fed the same lines in random batches flags exactly the same rows,
and windows across a flagged row are left out of the audits."""

from __future__ import annotations

import dataclasses
import gzip
import random
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from lotus_core.audits.edge import label_shuffle, usable
from lotus_core.audits.result import DEFAULT as AUDIT
from lotus_core.feed.assemble import StreamAssembler
from lotus_core.feed.chunks import extract_chunk
from lotus_core.feed.parse import parse_recording
from lotus_core.live.recorder import gap_message
from lotus_core.microtape import MICROTAPE_COLUMNS, MicroTapeParams, build_microtape
from lotus_core.microtape.build import TapeStream
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import detect_day
from lotus_core.time import day_bounds_ms
from tests.helpers import small_day

REPO = Path(__file__).resolve().parents[3]
DAY = "2026-01-02"
PARAMS = MicroTapeParams(gap_warmup_ms=20_000)


def _line(recv: int, start: int, end: int | None, reason: str, coins: list[str] | None
          ) -> bytes:
    msg = gap_message(start, end, reason, coins)
    return b'{"recv_ts_ms":%d,"msg":%b}\n' % (recv, orjson.dumps(msg))


def _gapped(tmp: Path) -> tuple[Path, Path, dict[str, list[tuple[int, int]]]]:
    """A fixture day's first 6 minutes with a disconnect (its frames cut out, an open and a
    closing record), an ETH stall (open and close records) and a closing record with no
    open one (a SOL stall); the same lines without the gap records; the expected spans."""
    plain = small_day(REPO / "fixtures" / f"{DAY}.jsonl.gz", tmp / "plain" / f"{DAY}.jsonl.gz",
                      6)
    lines = gzip.decompress(plain.read_bytes()).splitlines(keepends=True)
    recv = [orjson.loads(x)["recv_ts_ms"] for x in lines]
    t0 = recv[0]
    s, e = t0 + 90_500, t0 + 131_200  # the disconnect: frames in (s, e) are lost
    last = max(r for r in recv if r <= s)
    first = min(r for r in recv if r >= e)
    eth_open, eth_start, eth_end = t0 + 200_000, t0 + 195_000, t0 + 230_000
    sol_end = t0 + 300_000
    kept = [x for x, r in zip(lines, recv, strict=True) if not s < r < e]
    records = [_line(last, last, None, "disconnect", None),
               _line(first, last, first, "disconnect", None),
               _line(eth_open, eth_start, None, "stall", ["ETH"]),
               _line(eth_end, eth_start, eth_end, "stall", ["ETH"]),
               _line(sol_end, t0 + 250_000, sol_end, "stall", ["SOL"])]
    # in receive order, each record after the frames received at its millisecond (the
    # feed loop writes it once it has recorded the frame that opened or closed the gap)
    out = sorted([*kept, *records], key=lambda x: orjson.loads(x)["recv_ts_ms"])
    path = tmp / "gapped" / f"{DAY}.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"".join(out), mtime=0))
    nogap = tmp / "nogap" / f"{DAY}.jsonl.gz"
    nogap.parent.mkdir(parents=True)
    nogap.write_bytes(gzip.compress(b"".join(kept), mtime=0))
    w = PARAMS.gap_warmup_ms
    every = [(last, first + w)]
    return path, nogap, {"BTC": every, "ETH": [*every, (eth_open, eth_end + w)],
                         "SOL": [*every, (sol_end, sol_end + w)]}


@pytest.fixture(scope="module")
def gapped(tmp_path_factory: pytest.TempPathFactory):
    return _gapped(tmp_path_factory.mktemp("gaps"))


def test_nightly_parse_keeps_gap_records_and_flags_their_rows(gapped):
    path, nogap, spans = gapped
    feed = parse_recording(path)
    assert not [d for d in feed.dead if d.channel == "lotusGap"] and not feed.dead
    assert feed.stats["gap_records"] == 5
    g = feed.gaps
    assert g["reason"].tolist() == ["disconnect", "disconnect", "stall", "stall", "stall"]
    assert g["coin"].tolist() == ["", "", "ETH", "ETH", "SOL"]
    closed = g[g["end_ms"] >= 0]
    assert (closed["start_ms"] < closed["end_ms"]).all()
    tape = build_microtape(feed, PARAMS)
    plain = build_microtape(parse_recording(nogap), PARAMS)
    assert set(tape["coin"]) == set(spans)
    for coin, want in spans.items():
        rows = tape[tape["coin"] == coin]
        ts = rows["ts_ms"].to_numpy()
        expect = np.zeros(len(ts), dtype=bool)
        for lo, hi in want:
            expect |= (ts >= lo) & (ts < hi)
        assert expect.any() and not expect.all()
        assert np.array_equal(rows["gap"].to_numpy(), expect), coin
    # the records change the flag only: every other column is the recording's without them
    assert not plain["gap"].any()
    pd.testing.assert_frame_equal(tape.drop(columns="gap"), plain.drop(columns="gap"))


def test_a_recording_without_gap_records_flags_nothing(gapped):
    _, nogap, _ = gapped
    feed = parse_recording(nogap)
    assert len(feed.gaps) == 0 and "gap_records" not in feed.stats
    assert not build_microtape(feed, PARAMS)["gap"].any()


def test_a_malformed_gap_record_is_a_dead_letter():
    bad = [b'{"recv_ts_ms":5,"msg":{"channel":"lotusGap","data":{"start_ms":9,"end_ms":4,'
           b'"reason":"stall","coins":["BTC"]}}}\n',
           b'{"recv_ts_ms":6,"msg":{"channel":"lotusGap","data":{"start_ms":1,"end_ms":4,'
           b'"reason":"nap","coins":null}}}\n']
    chunk = extract_chunk(1, bad)
    assert [d[4] for d in chunk.dead] == ["malformed_lotusGap"] * 2
    assert len(chunk.tables["gaps"]["recv"]) == 0


@pytest.mark.parametrize("seed", [1, 2])
def test_stream_flags_the_rows_the_nightly_flags(gapped, seed):
    path, _, _ = gapped
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    start, end = day_bounds_ms(DAY)
    rng = random.Random(seed)
    asm, tape = StreamAssembler(DAY), TapeStream(DAY, PARAMS, start)
    rows, i = [], 0
    while i < len(lines):
        batch = lines[i:i + rng.choice((1, 2, 7, 60, 400))]
        tape.add(asm.add(extract_chunk(i + 1, batch), [hash(x) for x in batch]))
        i += len(batch)
        now = orjson.loads(lines[i])["recv_ts_ms"] if i < len(lines) else end
        rows += tape.rows(now)
    want = build_microtape(parse_recording(path), PARAMS)
    want = want.sort_values(["ts_ms", "coin"], kind="stable").reset_index(drop=True)
    rows.sort(key=lambda r: (r["ts_ms"], r["coin"]))
    assert [r["gap"] for r in rows] == want["gap"].tolist()
    assert want["gap"].any() and all(type(r["gap"]) is bool for r in rows)
    assert [list(r) for r in rows[:1]] == [list(MICROTAPE_COLUMNS)]
    for name in ("ts_ms", "coin", "mid_px", "stale_ms"):
        assert [r[name] for r in rows] == want[name].tolist(), name


def test_windows_across_a_gap_are_marked_and_left_out_of_the_audits(gapped):
    path, _, _ = gapped
    frames = build_microtape(parse_recording(path), PARAMS)
    windows = detect_day(frames, scoring=load_scoring())
    assert windows["gap"].any() and not windows["gap"].all()
    # marked: the window's frame or a row up to its horizon is flagged
    for _, w in windows.iterrows():
        mine = frames[(frames["coin"] == w["coin"]) & (frames["ts_ms"] >= w["ts_ms"])
                      & (frames["ts_ms"] <= w["ts_ms"] + 1000 * w["horizon_s"])]
        assert bool(w["gap"]) == bool(mine["gap"].any())
    ok = usable(windows)
    assert not (ok & windows["gap"].to_numpy()).any()
    assert ok.sum() == (windows["outcome_ok"] & ~windows["gap"]).sum()
    cfg = dataclasses.replace(AUDIT, min_shuffle_n=1, permutations=20)
    res = label_shuffle(windows, np.random.default_rng(0), cfg)
    assert res.detail.endswith(f"n {int(ok.sum())}")
