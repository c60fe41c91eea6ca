"""Image columns to times, from the time labels OCR read below the panel.

Labels are times of day (`09:30`, `14:05:30`), dates (`2026-01-05`) or month names with a
day (`Jan 5`, `5 Jan`: OCR reads two words, joined here when they sit side by side), dates
at midnight. Each gives a point (column of its centre, seconds). The map is the line
t = a + b * column (b > 0, time runs rightwards), fitted as the price axis is (axis.py):
every pair of neighbouring labels proposes a line, the one with the most labels within
INLIER_PX of it wins (ties: the smaller spread), the inliers are refitted by least
squares, and confidence is min(1, (inliers - 1) / 3) * exp(-rms / 2 px). Times of day are
compared modulo a day, since the clock wraps at midnight: neighbouring labels must be less
than a day apart, and a label's day is the one the line puts it in.

Times of day leave the date open. It is taken from the chart's `at` (its as-of time): the
day that puts the chart's last point at or before `at` and less than a day before it;
else from a `YYYY-MM-DD` date in the title, as the date of the last point. Without either,
the fit is kept and the points get no times, with that reason. Month names leave the year
open: the rightmost label takes the year that puts it at or before that same reference
(`at`, else the title's date), and each label to its left the year that keeps the dates
rising (a chart across New Year); without a reference there is no fit, with that reason.

Labels are written in the chart's zone: UTC unless a `UTC+2`, `GMT-5` or `UTC+05:30` tag
is read in the label strip (terminals print it at its right end) or the title, whose offset
is taken off every label time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from lotus_core.vis.ocr import Word

INLIER_PX = 4.0  # a label's box centre is less sure across than a price label's is down
DAY = 86_400.0
CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")
DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
FULL_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
               "september", "october", "november", "december")
# OCR often drops the space (`Jan4`) and reads a 1 as l or I (`Janl`): a day's l and I are 1
MONTH_DAY = re.compile(r"^([A-Za-z]{3,9}?)\.? ?([0-9lI]{1,2})$|^(\d{1,2}) ?([A-Za-z]{3,9})\.?$")
# a zone tag, alone or run into the label before it (`16:30UTC+5:30`); OCR reads a 5 as S, a 0
# as O and a 1 as l or I in its digits
ZONE = re.compile(r"^(.*?)\(?(?i:UTC|GMT)"
                  r"(?:([+\-\u2212])([0-9SOlI]{1,2})(?::?([0-5SOlI][0-9SOlI]))?)?\)?$")
DIGITS = str.maketrans("SOlI", "5011")
JOIN_GAP = 1.2  # words at most this many word heights apart on one line form one label


@dataclass(frozen=True)
class TimeFit:
    """t = intercept + slope * column (seconds; of day when `of_day`), its labels, confidence."""

    intercept: float
    slope: float
    rms_px: float
    of_day: bool
    labels: list[tuple[float, float, str]]  # (column, seconds, text) of the inliers
    rejected: list[str]
    confidence: float

    def seconds_at(self, col: float | np.ndarray) -> np.ndarray:
        return self.intercept + self.slope * np.asarray(col, dtype=np.float64)


def _month(name: str) -> int | None:
    """1-12 for a month's name or its first three letters (any case), else None."""
    low = name.lower()
    for i, full in enumerate(FULL_MONTHS):
        if low in (full, full[:3]) or (i == 8 and low == "sept"):
            return i + 1
    return None


def month_day(text: str) -> tuple[int, int] | None:
    """(month, day) of a `Jan 5` or `5 Jan` label, or None."""
    m = MONTH_DAY.match(text.strip().strip(",;"))
    if not m:
        return None
    name, day = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
    month, day = _month(name), day.replace("l", "1").replace("I", "1")
    if month is None or not 1 <= int(day) <= 31:
        return None
    try:
        datetime(2000, month, int(day))  # a leap year: Feb 29 is a date
    except ValueError:
        return None
    return month, int(day)


def _zone(text: str) -> tuple[str, float] | None:
    """(what precedes the tag, seconds east of UTC) of a word ending in a zone tag, or None."""
    m = ZONE.match(text.strip().strip(",;"))
    if not m:
        return None
    if m.group(2) is None:
        return m.group(1), 0.0
    sign = 1.0 if m.group(2) == "+" else -1.0
    hours, minutes = m.group(3).translate(DIGITS), (m.group(4) or "0").translate(DIGITS)
    return m.group(1), sign * (int(hours) * 3600.0 + int(minutes) * 60.0)


def zone_offset(words: list[Word]) -> float | None:
    """Seconds east of UTC from the first `UTC+2` / `GMT-05:00` / `UTC` word, or None."""
    for w in words:
        z = _zone(w.text)
        if z is not None and not z[0]:
            return z[1]
    return None


def split_zone(words: list[Word]) -> tuple[list[Word], float | None]:
    """The label words without their zone tag, and the tag's seconds east of UTC (None
    without one). A tag OCR ran into the label before it leaves that label, its box cut to
    its share of the characters."""
    out: list[Word] = []
    zone: float | None = None
    for w in words:
        z = _zone(w.text)
        if z is None:
            out.append(w)
            continue
        zone = z[1] if zone is None else zone
        head = z[0].strip()
        if head:
            share = len(head) / len(w.text.strip())
            out.append(Word(text=head, conf=w.conf, x=w.x, y=w.y, w=w.w * share, h=w.h))
    return out, zone


def join_labels(words: list[Word]) -> list[Word]:
    """Words joined into labels where a month name and a day number sit side by side on
    one line (`Jan` `5` -> `Jan 5`); every other word as it was."""
    ws = sorted(words, key=lambda w: w.x)
    out: list[Word] = []
    i = 0
    while i < len(ws):
        w = ws[i]
        if i + 1 < len(ws):
            nxt = ws[i + 1]
            h = max(w.h, nxt.h, 1.0)
            near = nxt.x - (w.x + w.w) <= JOIN_GAP * h and abs(nxt.cy - w.cy) <= h / 2
            text = f"{w.text.strip()} {nxt.text.strip()}"
            if near and month_day(text) is not None:
                right = max(w.x + w.w, nxt.x + nxt.w)
                top, bot = min(w.y, nxt.y), max(w.y + w.h, nxt.y + nxt.h)
                out.append(Word(text=text, conf=min(w.conf, nxt.conf), x=w.x, y=top,
                                w=right - w.x, h=bot - top))
                i += 2
                continue
        out.append(w)
        i += 1
    return out


def _month_dates(points: list[tuple[float, tuple[int, int], str]], ref: float
                 ) -> list[tuple[float, float, str]]:
    """(column, epoch seconds of local midnight, text) of month-day labels sorted by
    column: the rightmost in the year that puts it at or before `ref`, each one left of it
    in the year that keeps the dates rising."""
    r = datetime.fromtimestamp(ref, UTC)
    year = r.year if points[-1][1] <= (r.month, r.day) else r.year - 1
    out: list[tuple[float, float, str]] = []
    nxt: tuple[int, int] | None = None
    for col, md, text in reversed(points):
        if nxt is not None and md > nxt:
            year -= 1
        nxt = md
        try:
            day = datetime(year, md[0], md[1], tzinfo=UTC)
        except ValueError:  # Feb 29 put in a year without one: not this axis
            continue
        out.append((col, day.timestamp(), text))
    return out[::-1]


def parse_time(text: str) -> tuple[str, float] | None:
    """('day', seconds of day) for a clock label, ('date', epoch seconds) for a date, or None."""
    t = text.strip().strip(".,;")
    m = CLOCK.match(t)
    if m:
        return "day", int(m.group(1)) * 3600.0 + int(m.group(2)) * 60.0 + int(m.group(3) or 0)
    d = DATE.match(t)
    if d:
        try:
            day = datetime(int(d.group(1)), int(d.group(2)), int(d.group(3)), tzinfo=UTC)
        except ValueError:
            return None
        return "date", day.timestamp()
    return None


def _resid(arr: np.ndarray, a: float, b: float, wrap: bool) -> np.ndarray:
    """Each label's time minus the line's, in seconds (modulo a day for clock labels)."""
    r = arr[:, 1] - (a + b * arr[:, 0])
    return (r + DAY / 2) % DAY - DAY / 2 if wrap else r


def fit_time_axis(words: list[Word], ref: float | None = None) -> TimeFit | str:
    """The column -> time map from OCR'd time-label words (read from a crop starting at
    column 0), or the reason there is none. `ref` (epoch seconds: the chart's as-of time,
    else its title's date) gives month-name labels their year."""
    labels = join_labels(words)
    months = sorted((w.x + w.w / 2, md, w.text) for w in labels
                    if (md := month_day(w.text)) is not None)
    parsed = [(w, parse_time(w.text)) for w in labels]
    kinds = [p[0] for _, p in parsed if p is not None]
    kind = "day" if kinds.count("day") >= kinds.count("date") else "date"
    if len(months) > max(kinds.count("day"), kinds.count("date")):
        if ref is None:
            return ("the time labels give month and day without a year and the chart has "
                    "no date (no --at, no date in the title)")
        kind = "month"
        pts = _month_dates(months, ref)
        rejected = [w.text for w in labels if month_day(w.text) is None]
    else:
        pts = sorted((w.x + w.w / 2, p[1], w.text) for w, p in parsed
                     if p is not None and p[0] == kind)
        rejected = [w.text for w, p in parsed if p is None or p[0] != kind]
    if len(pts) < 2:
        return f"only {len(pts)} time label(s) read below the panel (need 2)"
    arr = np.asarray([(c, s) for c, s, _ in pts], dtype=np.float64)
    wrap = kind == "day"
    best: tuple[int, float, float, float] | None = None
    for i in range(len(arr) - 1):
        (c1, s1), (c2, s2) = arr[i], arr[i + 1]
        dt = (s2 - s1) % DAY if wrap else s2 - s1
        if c2 - c1 < 1 or dt <= 0:
            continue
        b = dt / (c2 - c1)
        a = s1 - b * c1
        err = np.abs(_resid(arr, a, b, wrap)) / b
        inl = err <= INLIER_PX
        score = (int(inl.sum()), -float(err[inl].sum()))
        if best is None or score > (best[0], best[1]):
            best = (score[0], score[1], a, b)
    if best is None or best[0] < 2:
        return "the time labels do not fall on one time scale (time must run rightwards)"
    _, _, a, b = best
    resid = _resid(arr, a, b, wrap)
    inl = np.abs(resid) / b <= INLIER_PX
    secs = a + b * arr[inl, 0] + resid[inl]  # each clock label put in the line's day
    if wrap:
        secs -= DAY * math.floor(secs[0] / DAY)  # the first label's day is day 0
    slope, intercept = np.polyfit(arr[inl, 0], secs, 1)
    if slope <= 0:
        return "the time labels do not fall on one time scale (time must run rightwards)"
    rms = float(np.sqrt(np.mean((secs - (intercept + slope * arr[inl, 0])) ** 2)) / slope)
    n = int(inl.sum())
    kept = np.flatnonzero(inl)
    return TimeFit(intercept=float(intercept), slope=float(slope), rms_px=rms, of_day=wrap,
                   labels=[(float(arr[k, 0]), float(secs[j]), pts[k][2])
                           for j, k in enumerate(kept)],
                   rejected=rejected + [pts[k][2] for k in np.flatnonzero(~inl)],
                   confidence=float(min(1.0, (n - 1) / 3) * math.exp(-rms / 2.0)))


def title_date(words: list[Word]) -> float | None:
    """Epoch seconds of the first `YYYY-MM-DD` in the title, or None."""
    for w in words:
        p = parse_time(w.text)
        if p is not None and p[0] == "date":
            return p[1]
    return None


def timestamps(fit: TimeFit, cols: np.ndarray, at: datetime | None,
               date: float | None, zone: float = 0.0) -> np.ndarray | str:
    """Epoch ms of each column, or why there are none (see the module doc for the date).
    `zone`: seconds east of UTC the labels are written in."""
    secs = fit.seconds_at(cols)
    if fit.of_day:
        last = float(secs[-1])
        if at is not None:
            end = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() + zone
            secs = secs + DAY * math.floor((end - last) / DAY)
        elif date is not None:
            secs = secs + date - DAY * math.floor(last / DAY)
        else:
            return "the time labels give times of day only and the chart has no date " \
                   "(no --at, no date in the title)"
    return np.round((secs - zone) * 1000.0).astype(np.int64)
