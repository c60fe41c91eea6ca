"""Image columns to times, from the time labels OCR read below the panel.

Labels are times of day (`09:30`, `14:05:30`) or dates (`2026-01-05`, midnight UTC). Each
gives a point (column of its centre, seconds). The map is the line t = a + b * column
(b > 0, time runs rightwards), fitted as the price axis is (axis.py): every pair of
neighbouring labels proposes a line, the one with the most labels within INLIER_PX of it
wins (ties: the smaller spread), the inliers are refitted by least squares, and confidence
is min(1, (inliers - 1) / 3) * exp(-rms / 2 px). Times of day are compared modulo a day,
since the clock wraps at midnight: neighbouring labels must be less than a day apart, and a
label's day is the one the line puts it in.

Times of day leave the date open. It is taken from the chart's `at` (its as-of time): the
day that puts the chart's last point at or before `at` and less than a day before it;
else from a `YYYY-MM-DD` date in the title, as the date of the last point. Without either,
the fit is kept and the points get no times, with that reason.
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


def fit_time_axis(words: list[Word]) -> TimeFit | str:
    """The column -> time map from OCR'd time-label words (read from a crop starting at
    column 0), or the reason there is none."""
    parsed = [(w, parse_time(w.text)) for w in words]
    kinds = [p[0] for _, p in parsed if p is not None]
    kind = "day" if kinds.count("day") >= kinds.count("date") else "date"
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
               date: float | None) -> np.ndarray | str:
    """Epoch ms of each column, or why there are none (see the module doc for the date)."""
    secs = fit.seconds_at(cols)
    if fit.of_day:
        last = float(secs[-1])
        if at is not None:
            end = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
            secs = secs + DAY * math.floor((end - last) / DAY)
        elif date is not None:
            secs = secs + date - DAY * math.floor(last / DAY)
        else:
            return "the time labels give times of day only and the chart has no date " \
                   "(no --at, no date in the title)"
    return np.round(secs * 1000.0).astype(np.int64)
