"""bench.backfill's judgement of "flat", on constructed days: the slope sees growth while the
history windows fill and none after, the report splits the days at the window, the section
shows them in blocks that keep to it, and a range too short to show a slope after the window
is refused by name. (The real `dg launch` of a
range is tests/sensors/test_backfill_launch.py.)"""

import pytest

from bench import backfill
from bench.backfill import WINDOW, report, slope


def _days(n: int, grow: float, after: float) -> list[dict]:
    """n days whose wall grows by `grow` s a day while the windows fill, `after` s a day after."""
    out, wall = [], 20.0
    for i in range(n):
        out.append({"day": f"2026-01-{i + 1:02d}", "wall_s": wall, "steps_s": wall - 2,
                    "learning_s": wall / 2, "steps": {}})
        wall += grow if i < WINDOW else after
    return out


def test_slope_is_the_growth_per_day_and_nan_for_too_few_days():
    assert slope(_days(10, 1.5, 0.0), "wall_s") == pytest.approx(1.5)
    assert slope(_days(2, 1.5, 0.0), "wall_s") != slope(_days(2, 1.5, 0.0), "wall_s")  # nan


def test_report_splits_the_days_at_the_window():
    days = _days(30, 1.0, 0.0)
    res = {"coins": 10, "hours": "12-13", "days": days, "machine": "test machine",
           "when": "2026-11-25 00:00 UTC",
           "launch": {"wall_s": 600.0, "cpu_s": 580.0, "load_start": (1.0, 1.0, 1.0),
                      "load_end": (1.2, 1.1, 1.0)}}
    text = report(res)
    assert f"| days 2-{WINDOW + 1} (windows filling) | days {WINDOW + 2}-30 (every" in text
    assert "| slope of a day's wall | +1.00 s per day | +0.00 s per day |" in text  # then flat
    assert "is flat once they are full (+0.00 s a day)" in text
    assert text.count("\n| ") >= 30 + 3  # a row per day besides the measures
    assert "2026-01-30" in text


def test_the_section_shows_the_days_in_blocks_that_keep_to_the_window():
    days = _days(30, 1.0, 0.0)
    res = {"coins": 10, "hours": "12-13", "days": days, "machine": "test machine",
           "launch": {"wall_s": 600.0, "cpu_s": 580.0, "load_start": (1.0, 1.0, 1.0),
                      "load_end": (1.2, 1.1, 1.0)}}
    text = backfill.section(res)
    firsts = [line.split(" | ")[0][2:] for line in text.splitlines()
              if line.startswith("| ") and line[2:3].isdigit()]  # the blocks
    assert firsts[:2] == ["1", "2-5"]  # day 1 alone: the cold start
    assert f"11-{WINDOW + 1}" in firsts and f"{WINDOW + 2}-20" in firsts  # none straddles it
    assert firsts[-1] == "26-30"
    assert text.count("\n| ") < 15  # every day is in bench/results/backfill.json, not here
    assert len(text.splitlines()) <= 40


def test_a_range_too_short_for_the_window_is_refused(capsys):
    with pytest.raises(SystemExit):
        backfill.main(["--days", str(WINDOW)])
    assert "at least" in capsys.readouterr().err
