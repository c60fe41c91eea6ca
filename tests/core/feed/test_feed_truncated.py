"""Recordings that end early are read to their last complete line; non-gzip files are named."""

from __future__ import annotations

import gzip
import zlib

import pytest

from lotus_core.feed.gzlines import RecordingFormatError
from lotus_core.feed.parse import parse_recording
from tests.helpers import REAL_RECORDING

DAY = "2025-01-26"


def _lines() -> list[bytes]:
    return gzip.decompress(REAL_RECORDING.read_bytes()).splitlines(keepends=True)


def _members(lines: list[bytes], per: int) -> bytes:
    """One gzip member per `per` lines, as the live recorder's flushes write them."""
    return b"".join(gzip.compress(b"".join(lines[i:i + per]), mtime=0)
                    for i in range(0, len(lines), per))


def test_whole_multi_member_file_equals_single_member(tmp_path):
    lines = _lines()
    one = tmp_path / "a" / f"{DAY}.jsonl.gz"
    many = tmp_path / "b" / f"{DAY}.jsonl.gz"
    one.parent.mkdir()
    many.parent.mkdir()
    one.write_bytes(gzip.compress(b"".join(lines)))
    many.write_bytes(_members(lines, 7))
    a, b = parse_recording(one), parse_recording(many)
    assert b.stats == a.stats and b.dead == a.dead
    assert b.books.meta.equals(a.books.meta) and b.trades.equals(a.trades)
    assert not [d for d in b.dead if d.reason == "truncated_recording"]


@pytest.mark.parametrize("cut_back", [1, 9, 200])
def test_stream_ending_early_keeps_complete_lines_and_dead_letters_the_rest(tmp_path,
                                                                             cut_back):
    lines = _lines()
    blob = _members(lines, 5)
    path = tmp_path / f"{DAY}.jsonl.gz"
    path.write_bytes(blob[:-cut_back])
    feed = parse_recording(path)
    cut = [d for d in feed.dead if d.reason == "truncated_recording"]
    assert len(cut) == 1
    assert f"ends early at byte {len(blob) - cut_back}" in cut[0].detail
    kept = feed.stats["lines"]
    assert cut[0].line_no == kept + 1
    # every line kept is a whole line of the original, in order; nothing past the cut
    whole = parse_recording(_write(tmp_path / "w", lines[:kept]))
    assert whole.books.meta.equals(feed.books.meta) and whole.trades.equals(feed.trades)
    assert kept >= len(lines) - 5  # only the last member (5 lines) can be lost


def test_cut_inside_a_line_never_yields_that_partial_line(tmp_path):
    lines = _lines()
    # a single member whose stream stops in the middle of line 10
    raw = b"".join(lines)
    comp = zlib.compressobj(wbits=31)
    head = comp.compress(raw[: sum(map(len, lines[:9])) + 30]) + comp.flush(zlib.Z_SYNC_FLUSH)
    path = tmp_path / f"{DAY}.jsonl.gz"
    path.write_bytes(head)
    feed = parse_recording(path)
    assert feed.stats["lines"] == 9
    cut = [d for d in feed.dead if d.reason == "truncated_recording"]
    assert len(cut) == 1 and "30 decompressed bytes of a partial line" in cut[0].detail
    assert cut[0].raw == lines[9][:30].decode()


def test_not_gzip_names_the_file(tmp_path):
    path = tmp_path / f"{DAY}.jsonl.gz"
    path.write_bytes(b'{"recv_ts_ms": 1, "msg": {}}\n')
    with pytest.raises(RecordingFormatError, match=str(path)):
        parse_recording(path)
    path.write_bytes(b"")
    with pytest.raises(RecordingFormatError, match="is empty"):
        parse_recording(path)


def _write(folder, lines):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{DAY}.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(lines)))
    return path
