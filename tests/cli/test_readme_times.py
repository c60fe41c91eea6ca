"""The README's two commands say how long they take, and the figure is the measured one.

`make run` and `make test` are timed on a fresh clone of a 2-core machine and kept as
headline records (`python -m bench report --record make_run|make_test --figure "N min S s
..."`, which also puts them in BENCHMARKS.md's summary table). The README's code block
quotes each in whole minutes; this test fails when a new record moves the rounded figure
and the README was not updated with it (or the README was edited without a measurement)."""

from __future__ import annotations

import re
from pathlib import Path

from bench.report import read_headlines

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
HEADLINES = REPO / "bench" / "results" / "headline.jsonl"
CLOCK = re.compile(r"(\d+) min (\d+) s")
QUOTED = re.compile(r"^make (run|test)\s+# about (\d+) minutes\b", re.MULTILINE)


def measured_minutes(figure: str) -> int:
    """Whole minutes (rounded) of the first `N min S s` in a headline figure."""
    found = CLOCK.search(figure)
    assert found, f"no 'N min S s' in the figure {figure!r}"
    minutes, seconds = map(int, found.groups())
    return round(minutes + seconds / 60)


def quoted_minutes(text: str) -> dict[str, int]:
    """{"run": N, "test": M} from the README's `make run    # about N minutes ...` lines."""
    return {name: int(n) for name, n in QUOTED.findall(text)}


def latest(name: str) -> dict[str, str]:
    found = [r for r in read_headlines(HEADLINES) if r["benchmark"] == name]
    assert found, f"no headline record for {name}: time it and record it"
    return found[-1]


def test_the_readme_quotes_the_measured_minutes_of_both_commands() -> None:
    quoted = quoted_minutes(README.read_text())
    assert set(quoted) == {"run", "test"}, "the README's two commands lost their timing"
    for command in ("run", "test"):
        record = latest(f"make_{command}")
        assert "fresh clone" in record["figure"], record  # the install is part of the bill
        assert quoted[command] == measured_minutes(record["figure"]), (command, record)


def test_the_figures_are_read_as_written() -> None:
    assert measured_minutes("3 min 31 s from a fresh clone, install included") == 4
    assert measured_minutes("17 min 5 s from a fresh clone (1,950 passed)") == 17
    text = "make run    # about 4 minutes on 2 cores\nmake test   # about 17 minutes on 2\n"
    assert quoted_minutes(text) == {"run": 4, "test": 17}
