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

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from lotus_core.store.lake import Lake
from tests.ui_browser import CLOSE, Browser, webserver

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


@dataclass(frozen=True)
class MakeRun:
    """What `make run` left: its LOTUS_HOME (lake, fabric, `dagster/` instance, `loop-feed/`),
    the Makefile's environment it ran in, and its two commands' outcomes."""

    home: Path
    env: dict[str, str]
    ensure: subprocess.CompletedProcess[str]
    run: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> MakeRun:
    """`make run` after its install, done once for the module (the suite's most expensive
    build): the README comparison and the browser test read the same lake. Both carry the
    `make_run` xdist group, so one worker builds it."""
    home = tmp_path_factory.mktemp("make_run") / "lotus"
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
    return MakeRun(home, env, ensure, run)


@pytest.mark.slow
@pytest.mark.xdist_group("make_run")
def test_the_readme_table_is_what_make_run_prints(make_run: MakeRun) -> None:
    run, home = make_run.run, make_run.home
    assert make_run.ensure.returncode == 0, make_run.ensure.stdout + make_run.ensure.stderr
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


# --- the pages `make run` leaves, in a real browser -------------------------------------------
#
# After `make run` a researcher opens the UI (`make dev`) on the lake it left. Headless
# Chromium opens, for each of the four fixture days, the materialisation of lessons,
# loop_report, dm_decisions and paper_trades (every Markdown value opened too) and the Checks
# tab of every asset carrying checks, keeps a screenshot of each in `.lotus/ui-make-run/`
# (git-ignored; CI keeps it as an artefact), and fails, naming the day, asset, metadata label
# and cell, on
#
# - a clipped table cell: a td or th of the metadata (its entries table, a table value, a
#   Markdown table) whose content is wider than its box (scrollWidth > clientWidth + 1), or
#   an element inside one that hides what overflows it (overflow not visible, or an ellipsis)
#   and does overflow;
# - an unrounded float: a number with a decimal point, shown in such a cell or a metadata
#   value, with more than 6 significant digits *and* more than 2 decimals (`unrounded`): the
#   rounding policy (docs/surface.md, "One rounding policy") gives at most 6 significant
#   digits, never fewer than 2 decimals (money: `99,851.02 USD`, 7 digits, is rounded);
# - a failed asset check on a fixture day (the newest evaluation of each check, asset and
#   partition in the Dagster instance), named with its day and description.

UI_DAYS = ["2026-02-02", "2026-02-03", "2026-02-04", "2026-02-05"]
UI_ASSETS = ["lessons", "loop_report", "dm_decisions", "paper_trades"]
SHOTS = REPO / ".lotus" / "ui-make-run"

DECIMAL = re.compile(r"(?<![\w.])[-+]?(?P<int>\d{1,3}(?:,\d{3})+|\d+)\.(?P<frac>\d+)"
                     r"(?:[eE](?P<exp>[-+]?\d+))?(?!\w|\.\d)")
"""A number with a decimal point, standing alone: not part of a word or a dotted run (a
version `v1.13.27`, an address `127.0.0.1`, a hash), optionally in exponent form
(`1.23457e-05`), thousands separated or not. Integers (`1234567`, `351,643`), dates, times
and ids have no decimal point of their own and are never floats here."""


def unrounded(text: str) -> list[str]:
    """The numbers in `text` that break the rounding policy: more than 6 significant digits
    and more than 2 decimals (`0.123456789`, `1234.56789`, `-0.4908839141472421`), counted
    on the value written (trailing zeros of the fraction and leading zeros are not
    significant; `1.23456789e-05` has 9 digits and 13 decimals). `0.490884`, `12.40`,
    `99,851.02`, `1.23457e-05` and `1234567` pass."""
    out = []
    for m in DECIMAL.finditer(text):
        frac = m["frac"].rstrip("0")
        digits = (m["int"].replace(",", "") + frac).lstrip("0")
        decimals = len(frac) - int(m["exp"] or 0)
        if len(digits) > 6 and decimals > 2:
            out.append(m[0])
    return out


SCAN = """((roots) => {
  const seen = (e) => e.getClientRects().length > 0;
  const boxes = [...document.querySelectorAll(roots)].filter(seen);
  const cells = boxes.flatMap(b => [...b.querySelectorAll('td, th')]).filter(seen);
  const clipped = [];
  for (const cell of cells) {
    for (const e of [cell, ...cell.querySelectorAll('*')]) {
      const st = getComputedStyle(e);
      if (!seen(e) || st.display === 'inline') continue;
      const hides = e === cell || st.overflowX !== 'visible' || st.textOverflow === 'ellipsis';
      if (hides && e.scrollWidth > e.clientWidth + 1) {
        clipped.push(`${cell.innerText.trim().slice(0, 80)} (${e.tagName.toLowerCase()}: `
                     + `${e.scrollWidth} px of content in ${e.clientWidth} px)`);
        break;
      }
    }
  }
  const texts = [...boxes.map(b => b.innerText), ...cells.map(c => c.innerText)];
  return {clipped, texts, cells: cells.length};
})(%s)"""
"""The cells of the elements matching a CSS selector (tables, dialogs) as the page shows
them: each clipped one, described, and the text of the elements and cells (`unrounded`
reads it)."""
METADATA = "table[class*=MetadataEntries], [role=dialog]"
MARKDOWN_LABELS = """(() => [...document.querySelectorAll('table[class*=MetadataEntries] tr')]
  .filter(r => [...r.querySelectorAll('a, button, span')]
    .some(e => e.innerText.trim() === '[Show Markdown]'))
  .map(r => r.querySelector('td').innerText.trim()))()"""
OPEN_MARKDOWN = """(() => {{ const row = [...document.querySelectorAll(
    'table[class*=MetadataEntries] tr')].find(r => r.querySelector('td')
    && r.querySelector('td').innerText.trim() === '{label}');
  const link = row && [...row.querySelectorAll('a, button, span')]
    .filter(e => e.innerText.trim() === '[Show Markdown]').pop();
  if (!link) return false; link.click(); return true; }})()"""
DIALOG_OPEN = "document.querySelectorAll('[role=dialog]').length > 0"
DIALOG_DRAWN = """(() => { const imgs = [...document.querySelectorAll('[role=dialog] img')];
  return document.querySelectorAll('[role=dialog]').length > 0
    && imgs.every(i => i.complete && i.naturalWidth > 0); })()"""


def scan(browser: Browser, where: str, roots: str = METADATA) -> list[str]:
    """What breaks the rules in the page's metadata (its entries table and any open dialog;
    `roots`, a CSS selector, for others), each problem prefixed with `where`."""
    found = browser.js(SCAN % json.dumps(roots))
    if not found["cells"]:  # the page changed under the selector: nothing would be judged
        return [f"{where}: no table cell found under {roots!r}"]
    problems = [f"{where}: clipped cell {c}" for c in found["clipped"]]
    bad = sorted({n for t in found["texts"] for n in unrounded(t)})
    problems += [f"{where}: unrounded float {n}" for n in bad]
    return problems


def newest_checks(dagster_home: Path) -> dict[tuple[str, str, str], dg.AssetCheckEvaluation]:
    """The newest evaluation of each (asset, check, partition) in the instance."""
    newest: dict[tuple[str, str, str], tuple[float, dg.AssetCheckEvaluation]] = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(dagster_home))  # the repo's dagster.yaml reads it
        instance = dg.DagsterInstance.from_config(str(dagster_home))
        try:
            for run in instance.get_runs():
                for entry in instance.all_logs(
                        run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
                    ev = entry.dagster_event.event_specific_data  # type: ignore[union-attr]
                    assert isinstance(ev, dg.AssetCheckEvaluation)
                    key = (ev.asset_key.to_user_string(), ev.check_name, str(ev.partition))
                    if key not in newest or newest[key][0] < entry.timestamp:
                        newest[key] = (entry.timestamp, ev)
        finally:
            instance.dispose()
    return {key: ev for key, (_, ev) in newest.items()}


def failed_checks(newest: dict[tuple[str, str, str], dg.AssetCheckEvaluation],
                  days: list[str]) -> tuple[list[str], dict[str, int]]:
    """Every failed check of `days` among the `newest` evaluations, as `<check> on <asset>,
    <day> (<partition>): <description>`, and how many evaluations each day has."""
    failed, counted = [], dict.fromkeys(days, 0)
    for (asset, check, partition), ev in sorted(newest.items()):
        day = next((d for d in days if d in partition), None)
        if day is None:
            continue
        counted[day] += 1
        if not ev.passed:
            failed.append(f"{check} on {asset}, {day} ({partition}): {ev.description}")
    return failed, counted


def test_the_rules_catch_an_unrounded_float_and_nothing_else() -> None:
    assert unrounded("0.123456789 | 1234.56789 | -0.4908839141472421 | x 1.23456789e-05.") \
        == ["0.123456789", "1234.56789", "-0.4908839141472421", "1.23456789e-05"]
    assert unrounded("0.490884 12.40 +1.95 99,851.02 USD 100000 1234567 351,643 1.23457e-05 "
                     "0.00113074 1.447000000 2026-02-05 BTC|2026-02-03 19:31:12.345 "
                     "v1.13.27 127.0.0.1 cc698267 abc1234.5678901 {\"p05\": 0.25}") == []


SYNTHETIC = """<html><body style="font: 14px sans-serif">
<table class="MetadataEntries"><tr><td>fits</td><td>0.490884</td></tr>
<tr><td>ellipsis</td><td><div style="width: 60px; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap">a value far too long for sixty pixels</div></td></tr>
<tr><td>fixed</td><td style="width: 40px; max-width: 40px; overflow: hidden;
  white-space: nowrap">0.123456789 spills</td></tr></table></body></html>"""


def test_the_page_scan_finds_a_clipped_cell_and_an_unrounded_float(
        tmp_path: Path) -> None:
    """The scan that judges the make-run pages, on a page with one clipped cell of each kind
    (an ellipsis, a fixed-width cell) and one unrounded float: each is found, the cell that
    fits is not."""
    page = tmp_path / "synthetic.html"
    page.write_text(SYNTHETIC)
    browser = Browser(tmp_path / "chromium")
    try:
        browser.call("Page.enable")
        browser.call("Page.navigate", url=page.as_uri())
        browser.wait_for("document.querySelectorAll('td').length === 6")
        problems = scan(browser, "synthetic")
    finally:
        browser.close()
    assert len(problems) == 3, problems
    assert problems[0].startswith("synthetic: clipped cell a value far too long"), problems
    assert problems[1].startswith("synthetic: clipped cell 0.123456789 spills"), problems
    assert problems[2] == "synthetic: unrounded float 0.123456789"


@pytest.mark.slow
@pytest.mark.xdist_group("make_run")
def test_make_runs_pages_show_rounded_unclipped_figures_and_passed_checks(
        make_run: MakeRun) -> None:
    """The four fixture days' pages, screenshot to `.lotus/ui-make-run/`: no clipped cell, no
    unrounded float, no failed check (the rules: the comment above)."""
    home = make_run.home
    newest = newest_checks(home / "dagster")
    failed, counted = failed_checks(newest, UI_DAYS)
    problems = [f"failed check {f}" for f in failed]
    problems += [f"{day}: no asset check evaluated" for day, n in counted.items() if not n]
    checked = sorted({asset for asset, _, _ in newest})
    shutil.rmtree(SHOTS, ignore_errors=True)
    with webserver(home / "dagster", home, home / "loop-feed", make_run.env) as port:
        browser = Browser(home.parent / "chromium")
        try:
            browser.call("Page.enable")
            for i, day in enumerate(UI_DAYS):
                for j, asset in enumerate(UI_ASSETS):
                    problems += _judge_page(browser, port, day, asset, first=i == j == 0)
            for asset in checked:
                browser.goto(f"http://127.0.0.1:{port}/assets/{asset}?view=checks")
                browser.wait_for(f"document.title.endsWith('| {asset}') && "
                                 "(document.body.innerText.includes('Latest execution')"
                                 " || document.body.innerText.includes('Evaluation'))")
                browser.settle()
                browser.screenshot(SHOTS / f"checks_{asset.replace('/', '_')}.png")
                problems += scan(browser, f"checks of {asset}", "table")
        finally:
            browser.close()
    shots = sorted(SHOTS.glob("*.png"))
    assert len(shots) >= len(UI_DAYS) * len(UI_ASSETS) + len(checked), shots
    assert all(p.stat().st_size > 10_000 for p in shots), shots
    assert problems == [], "\n".join(problems)


def _judge_page(browser: Browser, port: int, day: str, asset: str, first: bool
                ) -> list[str]:
    """One asset's materialisation of `day`: screenshot, its metadata scanned, and each
    Markdown value opened, screenshot and scanned. The `first` page of the browser waits
    for Dagster's first-visit dialog; later ones skip it only if it is there."""
    browser.goto(f"http://127.0.0.1:{port}/assets/{asset}?view=events&partition={day}")
    browser.wait_for(f"document.title.endsWith('| {asset}')"
                     f" && document.body.innerText.includes('Partition {day}')"
                     " && document.body.innerText.includes('dagster/row_count')")
    if browser.skip_welcome(timeout=5 if first else 0):
        browser.wait_for(f"!({DIALOG_OPEN})", timeout=15)
    browser.settle()
    browser.screenshot(SHOTS / f"{day}_{asset}.png")
    problems = scan(browser, f"{day} {asset}")
    labels = browser.js(MARKDOWN_LABELS)
    assert labels, f"{day} {asset}: no Markdown value found to open"
    for label in labels:
        assert browser.wait_for(OPEN_MARKDOWN.format(label=label)), (day, asset, label)
        browser.wait_for(DIALOG_DRAWN)
        browser.settle()  # the dialog's opening transition over
        browser.screenshot(SHOTS / f"{day}_{asset}_{label}.png")
        problems += scan(browser, f"{day} {asset} {label}")
        browser.js(CLOSE)
        browser.wait_for(f"!({DIALOG_OPEN})", timeout=15)
    return problems


def test_the_screenshots_are_kept_out_of_git() -> None:
    """`.lotus/` (LOTUS_HOME of `make run`, and the screenshots' directory) is ignored."""
    assert ".lotus/" in (REPO / ".gitignore").read_text().splitlines()
    assert SHOTS.is_relative_to(REPO / ".lotus")
