"""Recordings that straddle a UTC midnight, cut from a fixture day: the same frames moved
in time (receive and venue clocks alike), split at midnight into two day files."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson

from lotus_core.feed.gzlines import open_lines
from lotus_core.time import day_bounds_ms


def lines_of(path: Path, limit: int | None = None) -> list[bytes]:
    reader, _ = open_lines(path)
    with reader:
        out = [x if x.endswith(b"\n") else x + b"\n" for x in reader]
    return out[:limit] if limit else out


def recv_of(line: bytes) -> int:
    return int(orjson.loads(line)["recv_ts_ms"])


def shift(lines: list[bytes], delta_ms: int) -> list[bytes]:
    """The same frames `delta_ms` earlier or later (receive and venue clocks alike)."""
    out = []
    for line in lines:
        rec = orjson.loads(line)
        rec["recv_ts_ms"] += delta_ms
        data = rec["msg"].get("data") if isinstance(rec["msg"], dict) else None
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict):
                for key in ("time", "t", "T"):
                    if isinstance(item.get(key), int):
                        item[key] += delta_ms
        out.append(orjson.dumps(rec) + b"\n")
    return out


def midnight_lines(fixture: Path, day_after: str, minutes_before: float,
                   minutes_after: float) -> tuple[list[bytes], list[bytes]]:
    """The fixture's first minutes moved so that they straddle the midnight that starts
    `day_after`: (the lines before midnight, the lines after)."""
    lines = lines_of(fixture, 60_000)
    start = recv_of(lines[0])
    midnight = day_bounds_ms(day_after)[0]
    moved = shift(lines, midnight - int(minutes_before * 60_000) - start)
    end = midnight + int(minutes_after * 60_000)
    moved = [x for x in moved if recv_of(x) < end]
    before = [x for x in moved if recv_of(x) < midnight]
    return before, moved[len(before):]


def write_midnight(fixture: Path, out_dir: Path, day_before: str, day_after: str,
                   minutes_before: float, minutes_after: float) -> None:
    """Both days' recordings (`<day>.jsonl.gz`) into `out_dir`."""
    before, after = midnight_lines(fixture, day_after, minutes_before, minutes_after)
    out_dir.mkdir(parents=True, exist_ok=True)
    for day, lines in ((day_before, before), (day_after, after)):
        (out_dir / f"{day}.jsonl.gz").write_bytes(gzip.compress(b"".join(lines), mtime=0))
