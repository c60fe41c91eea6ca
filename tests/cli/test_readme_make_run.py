"""The README's `make run` table is what `make run` prints.

The README shows the per-day summary of a real `make run`; a change to any stage can move
its figures (windows, publications, lessons, fills) without anyone noticing the README is
now wrong. This test does what `make run` does after its install — `lotus fixtures ensure`
on the committed loop manifest, then `lotus materialize` on those four days, with the
Makefile's environment (LOTUS_HOME, DAGSTER_HOME with the repo's dagster.yaml,
LOTUS_FEED_DIR) — and compares every deterministic column with the README's table.
The paper P&L columns (gross, fees, net) are sums of float fills and fees: compared within 0.02
(one cent either way of the two printed decimals), since two CPU kinds may round its last
digit differently.
"""

# ruff: noqa: E501  (PRINTED is a verbatim `lotus materialize` summary: its lines are long)
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lotus_core.store.lake import Lake

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MANIFEST = REPO / "fixtures" / "loop" / "manifest.json"
LOTUS = Path(sys.executable).with_name("lotus")
PNL_TOLERANCE = 0.02
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}\s")
# the header's names; "priors change" is one column of free text ("+17 -0 ~0 (17 patches)")
NUMBERS = ["coins", "frames", "dead", "windows", "published", "explored", "lessons",
           "proposed"]
TRADING = ["decisions", "fills", "maker", "gross P&L", "fees", "net P&L"]
USD = ("gross P&L", "fees", "net P&L")  # sums of float fills and fees: within PNL_TOLERANCE


def summary_rows(text: str) -> dict[str, dict[str, str]]:
    """{day: {column: cell}} from a printed summary (or the README's copy of one).

    Cells are split on runs of 2+ spaces (the summary's column gap), except the free-text
    "priors change", which is everything between the priors version and the trading
    columns."""
    rows: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if not DAY.match(line):
            continue
        cells = re.split(r"\s{2,}", line.strip())
        day, status, *rest = cells
        row = {"status": status}
        row.update(zip(NUMBERS, rest[:len(NUMBERS)], strict=True))
        row["priors"] = rest[len(NUMBERS)]
        tail = rest[len(NUMBERS) + 1:]
        trading = tail[-len(TRADING):] if len(tail) > len(TRADING) else []
        row["priors change"] = " ".join(tail[:len(tail) - len(trading)])
        if trading:
            row.update(zip(TRADING, trading, strict=True))
        rows[day] = row
    return rows


def readme_table() -> str:
    """The code block under the README's "What `make run` shows you"."""
    text = README.read_text()
    section = text.split("## What `make run` shows you", 1)[1]
    return section.split("```", 2)[1]


def drift(expected: dict[str, dict[str, str]], printed: dict[str, dict[str, str]]
          ) -> list[str]:
    """Every cell where the README and the run disagree, named (day, column, both values)."""
    out = [f"days: README {sorted(expected)} vs make run {sorted(printed)}"] \
        if sorted(expected) != sorted(printed) else []
    for day in sorted(set(expected) & set(printed)):
        want, got = expected[day], printed[day]
        for col in sorted(set(want) | set(got)):
            a, b = want.get(col), got.get(col)
            if (col in USD and a is not None and b is not None
                    and abs(float(a) - float(b)) <= PNL_TOLERANCE):
                continue
            if a != b:
                out.append(f"{day} {col}: README {a!r}, make run {b!r}")
    return out


PRINTED = """\
day         status  coins       frames       dead  windows  published  explored  lessons  proposed  priors  priors change               decisions    fills  maker  gross P&L      fees    net P&L
2026-02-02  ok          3      348,514          0    5,978        375       303        0       180      v1  +0 -0 ~0 (0 patches)              678        0      -      +0.00      0.00      +0.00
2026-02-05  ok          3      351,643          0    5,899      1,098       235        6       628      v4  +17 -0 ~0 (17 patches)          1,128      138    94%     +12.40     10.45     +1.95
2 day(s) materialised
"""

def test_the_parser_reads_every_column_and_drift_names_the_cell() -> None:
    rows = summary_rows(PRINTED)
    assert rows["2026-02-05"] == {
        "status": "ok", "coins": "3", "frames": "351,643", "dead": "0", "windows": "5,899",
        "published": "1,098", "explored": "235", "lessons": "6", "proposed": "628", "priors": "v4",
        "priors change": "+17 -0 ~0 (17 patches)", "decisions": "1,128", "fills": "138",
        "maker": "94%", "gross P&L": "+12.40", "fees": "10.45", "net P&L": "+1.95"}
    assert drift(rows, rows) == []
    moved = summary_rows(PRINTED.replace("1,098", "1,099").replace("+1.95", "+1.96"))
    assert drift(rows, moved) == ["2026-02-05 published: README '1,098', make run '1,099'"]
    far = summary_rows(PRINTED.replace("+1.95", "+2.05"))
    assert drift(rows, far) == ["2026-02-05 net P&L: README '+1.95', make run '+2.05'"]
    assert drift(rows, {d: r for d, r in rows.items() if d != "2026-02-02"})[0].startswith(
        "days: README")
    # a day without the trading columns (the DM and Trader did not run) parses too
    bare = summary_rows("2026-02-02  ok  3  348,514  0  5,978  375  303  0  180  v1  unchanged\n")
    assert bare["2026-02-02"]["priors change"] == "unchanged"
    assert "fills" not in bare["2026-02-02"]


def test_the_readme_has_the_four_fixture_days() -> None:
    rows = summary_rows(readme_table())
    assert sorted(rows) == ["2026-02-02", "2026-02-03", "2026-02-04", "2026-02-05"]
    assert all(r["status"] == "ok" for r in rows.values())


@pytest.mark.slow
@pytest.mark.xdist_group("make_run")
def test_the_readme_table_is_what_make_run_prints(tmp_path: Path) -> None:
    home = tmp_path / "lotus"
    feed = home / "loop-feed"
    (home / "dagster").mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster" / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOTUS_", "DAGSTER_"))}
    env.update(LOTUS_HOME=str(home), DAGSTER_HOME=str(home / "dagster"),
               LOTUS_FEED_DIR=str(feed))  # the Makefile's `run` environment
    ensure = subprocess.run([str(LOTUS), "fixtures", "ensure", "--manifest", str(MANIFEST),
                             "--out", str(feed)], env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    assert ensure.returncode == 0, ensure.stdout + ensure.stderr
    run = subprocess.run([str(LOTUS), "materialize", "--feed-dir", str(feed)], env=env,
                         cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    printed = summary_rows(run.stdout)
    assert printed, run.stdout[-3000:]
    assert drift(summary_rows(readme_table()), printed) == [], run.stdout
    # the planted lesson's figure the README quotes, from the lessons table of the last night
    last = max(printed)
    assert planted_figure(README.read_text()) == planted_of(Lake(home / "lake"), last)


PLANTED = re.compile(r"`(\w+)` with `([\w=&]+)`: ([+-]\d+\.\d+) bps, CI \[([+-]\d+\.\d+), "
                     r"([+-]\d+\.\d+)\], among (\d+) active lessons")


def planted_figure(text: str) -> tuple[str, ...]:
    """(detector, rule, uplift, ci low, ci high, active lessons) as the README prints them."""
    found = PLANTED.search(" ".join(text.split()))
    assert found, "the README's planted-lesson sentence is missing or reworded"
    return found.groups()


def planted_of(lake: Lake, day: str) -> tuple[str, ...]:
    """The same figure from `lessons`: the README's detector and rule, 2 decimals."""
    detector, rule = planted_figure(README.read_text())[:2]
    lessons = lake.read("lessons", day)
    active = lessons[lessons["state"] == "active"]
    row = active[(active["detector_id"] == detector) & (active["rule"] == rule)]
    assert len(row) == 1, f"{detector} {rule} is not an active lesson on {day}"
    r = row.iloc[0]
    return (detector, rule, f"{r['uplift_bps']:+.2f}", f"{r['ci_lo']:+.2f}", f"{r['ci_hi']:+.2f}",
            str(len(active)))


def test_the_planted_figure_is_read_from_the_readme() -> None:
    assert planted_figure(README.read_text())[:2] == ("sweep_stall_v1", "oi_pctl_bin=hi")
