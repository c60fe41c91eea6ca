"""The warm start reads the day before's recording only when it can hold part of the warm
span: the nightly raw_feed summary of that same file (its sha256) says when its last row
was received, so a day recorded until midday is not parsed for a tail it cannot have, and a
summary of another file, or none, leaves the parse to decide."""

from __future__ import annotations

from pathlib import Path

from lotus_core.curators.config import load_curators
from lotus_core.feed.parse import file_sha256, parse_recording
from lotus_core.feed.summary import summarize_feed
from lotus_core.live.engine import LiveEngine, load_night_context
from lotus_core.signals.config import load_scoring
from lotus_core.store.lake import Lake
from lotus_core.time import day_bounds_ms
from tests.kits.live_kit import FIXTURE, SHORT
from tests.kits.midnight import write_midnight

BEFORE, DAY = "2026-03-01", "2026-03-02"


def _engine(tmp_path: Path) -> LiveEngine:
    scoring = load_scoring()
    return LiveEngine(SHORT, lambda d: load_night_context(tmp_path / "lake", d, scoring=scoring),
                      scoring=scoring, council=load_curators(), feed_dir=tmp_path / "feed")


def _summary(tmp_path: Path, **change: object) -> int:
    """raw_feed of BEFORE as the nightly writes it, with `change` applied; its last row's
    receive time."""
    path = tmp_path / "feed" / f"{BEFORE}.jsonl.gz"
    summary = summarize_feed(parse_recording(path, day=BEFORE))
    for column, value in change.items():
        summary[column] = value
    Lake(tmp_path / "lake").write("raw_feed", BEFORE, summary)
    return int(summary["last_recv_ts_ms"].max())


def _start(tmp_path: Path) -> tuple[int, int, LiveEngine]:
    """(where the day's input starts, the warm span's first ms, the engine)."""
    engine = _engine(tmp_path)
    engine.ctx = engine.context_for(DAY)
    lo = day_bounds_ms(DAY)[0] - engine.warm_ms
    return engine._input_start(DAY), lo, engine


def test_a_day_summarised_as_ending_before_the_warm_span_is_not_parsed(tmp_path):
    # the day before runs until 3 minutes before midnight: inside the warm span
    write_midnight(FIXTURE, tmp_path / "feed", BEFORE, DAY, 3, 1)
    last = _summary(tmp_path)
    start, lo, engine = _start(tmp_path)
    assert last >= lo and start == lo and engine.buf.has_books(lo, day_bounds_ms(DAY)[0])

    # the same file, its summary saying it ended before the span: the parse is skipped,
    # so the tail the file does hold is not read (what shows the parse did not run)
    _summary(tmp_path, last_recv_ts_ms=lo - 1)
    start, lo, engine = _start(tmp_path)
    assert start == day_bounds_ms(DAY)[0] and not engine.buf.has_books(lo, start)

    # a summary of another file (its sha256) is not trusted: the file is parsed
    _summary(tmp_path, last_recv_ts_ms=lo - 1, sha256="0" * 64)
    start, lo, engine = _start(tmp_path)
    assert start == lo and engine.buf.has_books(lo, day_bounds_ms(DAY)[0])
    assert file_sha256(tmp_path / "feed" / f"{BEFORE}.jsonl.gz") != "0" * 64


def test_without_a_summary_the_recording_is_parsed(tmp_path):
    write_midnight(FIXTURE, tmp_path / "feed", BEFORE, DAY, 3, 1)
    start, lo, engine = _start(tmp_path)
    assert engine.ctx is not None and engine.ctx.previous_feed is None
    assert start == lo and engine.buf.has_books(lo, day_bounds_ms(DAY)[0])
