"""The streamed MicroTape (`LiveTape` over a trimmed `TailBuffer`) equals the nightly
`build_microtape` on every column, stepped at random times; with short windows so the
trailing cut, the carry and the trimming are all exercised within a fixture's minutes;
and across a midnight, where the new day starts warm from the old day's tail exactly as
`build_microtape(..., warm=previous)` does."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from lotus_core.feed.extract import extract_chunk
from lotus_core.feed.parse import assemble_chunks, day_bounds_ms
from lotus_core.live.assemble import StreamAssembler
from lotus_core.live.tail import TailBuffer
from lotus_core.live.tape import LiveTape
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.microtape.warm import warm_span_ms
from tests.kits.live_kit import FIXTURE, SHORT
from tests.kits.midnight import lines_of as _lines
from tests.kits.midnight import midnight_lines, recv_of

pytestmark = pytest.mark.slow  # whole fixture minutes through the streaming path

DAY0, DAY1 = "2026-01-01", "2026-01-02"


def _parse(day: str, lines: list[bytes]):
    hashes = np.fromiter(map(hash, lines), dtype=np.int64, count=len(lines))
    return assemble_chunks(f"live:{day}", day, [extract_chunk(1, lines)], hashes,
                           lambda wanted: {})


def _run_day(buf: TailBuffer, tape: LiveTape, day: str, lines: list[bytes], seed: int,
             params: MicroTapeParams) -> pd.DataFrame:
    rng = random.Random(seed)
    asm, out, i = StreamAssembler(day), [], 0
    while i < len(lines):
        n = rng.choice([3, 40, 300, 1500])
        batch = lines[i:i + n]
        buf.add(asm.add(extract_chunk(i + 1, batch), [hash(x) for x in batch]))
        i += len(batch)
        now = recv_of(lines[i]) if i < len(lines) else day_bounds_ms(day)[1]
        out.append(tape.step(buf, now))
        buf.trim(tape.low_water(), params, tape.input_start)
    return pd.concat(out, ignore_index=True)


def _equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.sort_values(["coin", "ts_ms"]).reset_index(drop=True)
    assert len(got) == len(want) > 0
    pd.testing.assert_frame_equal(got, want.reset_index(drop=True), rtol=1e-9,
                                  check_exact=False)


def test_the_stepped_tape_equals_the_nightly_one_with_short_windows():
    lines = _lines(FIXTURE, 40_000)
    want = build_microtape(_parse(DAY1, lines), SHORT)
    buf = TailBuffer()
    tape = LiveTape(DAY1, SHORT, day_bounds_ms(DAY1)[0])
    got = _run_day(buf, tape, DAY1, lines, 5, SHORT)
    _equal(got, want)
    assert buf.rows() < 0.3 * len(lines)  # the buffer was trimmed (span + 5 min of rows)


def test_across_midnight_the_new_day_starts_warm_like_the_nightly():
    before, after = midnight_lines(FIXTURE, DAY1, 12, 6)
    params = SHORT
    assert warm_span_ms(params) < 12 * 60_000  # the old day's tail seeds the new day
    buf = TailBuffer()
    tape0 = LiveTape(DAY0, params, day_bounds_ms(DAY0)[0])
    got0 = _run_day(buf, tape0, DAY0, before, 7, params)
    start1 = day_bounds_ms(DAY1)[0]
    tape1 = LiveTape(DAY1, params, start1 - warm_span_ms(params))
    got1 = _run_day(buf, tape1, DAY1, after, 8, params)
    day0, day1 = _parse(DAY0, before), _parse(DAY1, after)
    _equal(got0, build_microtape(day0, params))
    want1 = build_microtape(day1, params, warm=day0)
    _equal(got1, want1)
    cold = build_microtape(day1, params)
    assert not cold["rv_pctl"].equals(want1["rv_pctl"])  # warm differs from cold here
