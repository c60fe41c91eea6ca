"""The streaming assembler against the batch code it stands in for: `StreamAssembler` batch
by batch == `assemble_chunks` over the whole day (every table)."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from lotus_core.feed.extract import extract_chunk
from lotus_core.feed.parse import assemble_chunks
from lotus_core.live.assemble import StreamAssembler
from lotus_core.live.tail import TailBuffer
from tests.helpers import REAL_RECORDING
from tests.kits.live_kit import FIXTURE
from tests.kits.midnight import lines_of as _lines

pytestmark = pytest.mark.slow  # whole fixture minutes through the streaming path


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


def _stream(day: str, lines: list[bytes], seed: int) -> TailBuffer:
    asm, buf = StreamAssembler(day), TailBuffer()
    for first, batch in _batches(lines, seed):
        buf.add(asm.add(extract_chunk(first, batch), [hash(x) for x in batch]))
    return buf


def _batch(day: str, lines: list[bytes]):
    chunk = extract_chunk(1, lines)
    hashes = np.fromiter(map(hash, lines), dtype=np.int64, count=len(lines))
    return assemble_chunks(f"live:{day}", day, [chunk], hashes, lambda wanted: {})


def _assert_tables_equal(a, b) -> None:
    pd.testing.assert_frame_equal(a.books.meta.reset_index(drop=True),
                                  b.books.meta.reset_index(drop=True))
    for m in ("bid_px", "bid_sz", "ask_px", "ask_sz"):
        np.testing.assert_array_equal(getattr(a.books, m), getattr(b.books, m))
    for name in ("trades", "bbo", "ctx", "candles"):
        pd.testing.assert_frame_equal(getattr(a, name).reset_index(drop=True),
                                      getattr(b, name).reset_index(drop=True), obj=name)


@pytest.mark.parametrize(("path", "day", "limit"), [(REAL_RECORDING, "2025-01-26", None),
                                                    (FIXTURE, "2026-01-02", 15_000)])
@pytest.mark.parametrize("seed", [1, 2])
def test_streaming_assembly_equals_the_whole_day(path, day, limit, seed):
    lines = _mangle(_lines(path, limit), seed)
    want = _batch(day, lines)
    got = _stream(day, lines, seed).feed(day)
    assert len(want.books) and len(want.trades)
    _assert_tables_equal(got, want)
