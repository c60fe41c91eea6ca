"""Where a day's recording lives in a feed directory, and which days a directory holds."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from lotus_core.feed.gzlines import RecordingFormatError, first_line, open_lines
from lotus_core.feed.tables import DeadLetter
from lotus_core.time import day_bounds_ms

RECORDING_SUFFIX = ".jsonl.gz"
TRUTH_SUFFIX = ".truth.json"
_DAY_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.jsonl\.gz$")


class MissingRecordingError(FileNotFoundError):
    """The feed directory has no recording for a requested day."""


def recording_path(feed_dir: Path, day: str) -> Path:
    return Path(feed_dir) / f"{day}{RECORDING_SUFFIX}"


def truth_path(feed_dir: Path, day: str) -> Path:
    return Path(feed_dir) / f"{day}{TRUTH_SUFFIX}"


def list_days(feed_dir: Path) -> list[str]:
    """Days with a recording in `feed_dir`, oldest first."""
    feed_dir = Path(feed_dir)
    if not feed_dir.is_dir():
        raise NotADirectoryError(f"feed directory {feed_dir} does not exist")
    return sorted(m.group(1) for p in feed_dir.iterdir() if (m := _DAY_RE.match(p.name)))


def require_recording(feed_dir: Path, day: str) -> Path:
    path = recording_path(feed_dir, day)
    if not path.is_file():
        have = list_days(feed_dir) if Path(feed_dir).is_dir() else []
        span = f"{have[0]} .. {have[-1]}" if have else "none"
        raise MissingRecordingError(
            f"no recording for {day}: expected {path} (days present in {feed_dir}: {span})")
    return path


class UnusableRecordingError(ValueError):
    """A recording that would replace a day's partitions with less than they hold: empty,
    cut short, or with no line of its day. The message names the file and what is wrong;
    the step that meets one fails before it writes anything."""


_KEPT = ("the day's feed partition and dead letters were not replaced (what an earlier run "
         "wrote of them is kept)")
HEAD_LINES = 2_000
"""Lines `read_head` reads by default: a recording names its coins in its first lines."""


@dataclass(frozen=True)
class Head:
    """The first lines of a recording, and why it cannot be read past them (`problem`,
    naming the file and the line; None: readable so far). `cut_after`: the complete lines
    before the cut or the corruption (None when there is no problem)."""

    lines: list[bytes]
    problem: str | None = None
    cut_after: int | None = None


def read_head(path: Path, limit: int = HEAD_LINES) -> Head:
    """The first `limit` lines of a recording, never raising on a broken file: one cut
    short (a crash, a partial copy), corrupt, or not gzip at all is a `problem` naming the
    file and the line where it breaks (a cut inside what was decompressed to read them is
    found even past `limit`: the lines up to it are counted from memory). Cheap: what the
    coin check and `lotus materialize`'s pre-check read of every recording."""
    path = Path(path)
    lines: list[bytes] = []
    try:
        reader, raw = open_lines(path)
    except RecordingFormatError as exc:  # not gzip at all (or 0 bytes)
        return Head(lines, f"recording {exc}", 0)
    except OSError as exc:
        return Head(lines, f"recording {path} cannot be read: {exc}", 0)
    with reader:
        try:
            for line in reader:
                lines.append(line)
                if len(lines) >= limit:
                    break
            if raw.truncation is not None:  # already decompressed: count the rest
                total = len(lines) + sum(1 for _ in reader)
                return Head(lines, _truncated(path, total, raw.truncation.detail(path),
                                              advice=False), total)
        except RecordingFormatError as exc:  # corrupt inside a member
            return Head(lines, f"recording {exc}", raw.lines)
    return Head(lines)


def refuse_empty(path: Path) -> None:
    """Fail before parsing a recording with no line at all (0 bytes, a gzip stream holding
    nothing, or one cut short before its first line): there is no day in it to write."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise UnusableRecordingError(f"recording {path} is empty (0 bytes); {_KEPT}")
    line, cut = first_line(path)
    if line:
        return
    if cut is not None:
        raise UnusableRecordingError(_truncated(path, 0, cut.detail(path)))
    raise UnusableRecordingError(
        f"recording {path} is empty (a valid gzip stream with no lines); {_KEPT}")


def refuse_unusable(path: Path, day: str, lines: int, dead: Sequence[DeadLetter]) -> None:
    """Fail a parsed day that is truncated, or none of whose lines was received on `day`:
    written, either would replace a complete day with part of it or with nothing."""
    path = Path(path)
    cut = next((d for d in dead if d.reason == "truncated_recording"), None)
    if cut is not None:
        raise UnusableRecordingError(_truncated(path, cut.line_no - 1, cut.detail or ""))
    if lines == 0:
        raise UnusableRecordingError(f"recording {path} is empty (no lines); {_KEPT}")
    not_in_day = {d.line_no for d in dead if d.recv_ts_ms is None or _day(d.recv_ts_ms) != day}
    if len(not_in_day) < lines:
        return
    days = Counter(_day(d.recv_ts_ms) for d in dead
                   if d.reason == "outside_day" and d.recv_ts_ms is not None)
    if not days:
        return  # no line has a receive time at all: the dead letters say why, line by line
    raise UnusableRecordingError(f"{_foreign(path, day, lines, days)} {_KEPT}")


def _foreign(path: Path, day: str, lines: int, days: Counter[str]) -> str:
    of = ", ".join(f"{d} ({n:,} lines)" if len(days) > 1 else d
                   for d, n in days.most_common(3))
    more = f" and {len(days) - 3} more days" if len(days) > 3 else ""
    return (f"recording {path}: 0 of {lines:,} lines fall in {day} (its lines are of "
            f"{of}{more}); is it another day's file under this day's name?")


def _recv(line: bytes) -> int | None:
    """A line's receive time as `raw_feed` reads it (None: not a record, or blank)."""
    try:
        rec = orjson.loads(line)
        recv, _ = rec["recv_ts_ms"], rec["msg"]
    except (orjson.JSONDecodeError, TypeError, KeyError, IndexError):
        return None
    return recv if type(recv) is int else None


def foreign_lines(path: Path, day: str, head: Sequence[bytes] = ()) -> str | None:
    """Why the recording of `day` at `path` is another day's file, as `refuse_unusable`
    words it when the day runs: no line of it was received on `day` (a blank line counts
    as the day's, as it does there). None when a line of the day is found, or the file
    cannot be read to its end (a cut or a corruption is named by `read_head`, or when the
    day runs). `head`: its first lines, already read: a day's own file is settled by them
    (its first line is of its day), another day's file is read whole. So the days after it
    are not held to a day that can never be made, as after a cut file."""
    lo, hi = day_bounds_ms(day)

    def of_day(line: bytes) -> bool:
        recv = _recv(line)
        return not line.strip() or (recv is not None and lo <= recv < hi)

    if any(of_day(line) for line in head):
        return None
    days: Counter[str] = Counter()
    lines = 0
    try:
        reader, raw = open_lines(path)
        with reader:
            for line in reader:
                lines += 1
                if of_day(line):
                    return None
                recv = _recv(line)
                if recv is not None:
                    days[_day(recv)] += 1
    except (RecordingFormatError, OSError):
        return None
    if raw.truncation is not None or not days:
        return None
    return _foreign(path, day, lines, days)


def _truncated(path: Path, lines: int, detail: str, advice: bool = True) -> str:
    head = (f"recording {path} is truncated after {lines:,} lines, inside line {lines + 1:,} "
            f"(gzip ends mid-member: {detail})")
    if not advice:
        return head
    return (f"{head}; copy the whole file again, or cut it back to its last complete "
            f"member, then materialise the day again; {_KEPT}")


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")
