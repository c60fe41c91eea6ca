"""One home for UTC-day arithmetic.

A Lotus day is a UTC calendar day named `YYYY-MM-DD` (a partition key, a recording's file
name); times are integer milliseconds since the Unix epoch (venue and receipt clocks).
Every stage that cuts by day, asks for "the previous day" or turns a time into its day
uses these, so nightly, live and the generator agree on where a day starts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

SECOND_MS = 1_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
DAY_S = 86_400
DAY_NS = DAY_MS * 1_000_000


def _as_date(day: str | date) -> date:
    return day if isinstance(day, date) else date.fromisoformat(day)


@lru_cache(maxsize=4096)
def _start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


def day_start_ms(day: str | date) -> int:
    """The first millisecond of `day` (UTC)."""
    return _start_ms(_as_date(day))


def day_bounds_ms(day: str | date) -> tuple[int, int]:
    """[start, end) of `day` in ms (cached: the live path asks per batch)."""
    start = day_start_ms(day)
    return start, start + DAY_MS


def utc_day(ms: int) -> str:
    """The UTC day a millisecond time falls in."""
    return (date(1970, 1, 1) + timedelta(days=ms // DAY_MS)).isoformat()


def previous_day(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


def next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def shift_day(day: str, days: int) -> str:
    """`day` moved by `days` (negative: earlier)."""
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()
