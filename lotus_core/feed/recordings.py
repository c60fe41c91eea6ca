"""Where a day's recording lives in a feed directory, and which days a directory holds."""

from __future__ import annotations

import re
from pathlib import Path

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
