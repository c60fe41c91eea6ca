"""What a researcher sees in the UI after a few trading days, in a real browser.

The surface loop's small generated days (one coin, one hour each: the cheapest loop that
still learns, decides and trades on paper; built once a session and shared with
test_surface_loop.py) went through the real `lotus_daily` and `lotus_coins` jobs on a
persistent instance; a real dagster-webserver serves it and headless Chromium opens the third
day's materialisations of lessons, loop_report, dm_decisions and paper_trades. Each table must
open with rows (not only a schema) and each plot must decode as an image of real size.
Screenshots are kept in `.test-artifacts/ui-surface/` (git-ignored) for a person to judge.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui_browser import ARTIFACTS, CLOSE, Browser, webserver

pytestmark = [pytest.mark.xdist_group("surface_loop"), pytest.mark.slow]  # one lake

DAYS = ["2026-02-28", "2026-03-01", "2026-03-02"]
SHOTS = ARTIFACTS.parent / "ui-surface"

# asset -> (tables: (metadata label, a text its rows must show),
#           plots: (metadata label, the image's alt text))
PAGES = {
    "lessons": ([("lessons_table", "new -> proposed")],
                [("lessons_forest", "forest plot of lesson uplifts")]),
    "loop_report": ([("day_table", DAYS[0])],
                    [("forest", "forest plot of lesson uplifts"),
                     ("priors_over_time", "priors versions over time"),
                     ("published_hit_rate", "published hit rate by day")]),
    "dm_decisions": ([("tickets_table", "hold")],
                     [("targets_plot", "DM target weights through the day")]),
    "paper_trades": ([("equity_by_day", DAYS[0])],
                     [("equity_curve", "paper equity by trading day"),
                      ("pnl_by_day", "paper P&L by trading day")]),
}


@pytest.fixture(scope="module")
def served(surface):
    """The surface loop's days (the session's `surface` fixture: the same three days, and a
    shifted fourth this test does not open), served by the workspace."""
    settings, _, _, _, root = surface
    with webserver(root / "dagster", settings.home, settings.feed_dir) as port:
        yield port, root


OPEN = """(() => {{ const rows = [...document.querySelectorAll('tr')];
  const row = rows.find(r => r.innerText.trim().startsWith('{label}'));
  if (!row) return false;
  const links = [...row.querySelectorAll('a, button, span')]
    .filter(e => /^\\[?Show /.test(e.innerText.trim()));
  if (!links.length) return 'inline';
  links[links.length - 1].click(); return 'opened'; }})()"""
ROWS_WITH = """(() => [...document.querySelectorAll('table')].filter(t =>
  t.innerText.includes('{text}') && t.querySelectorAll('tr').length > 1).length)()"""
IMAGE = """(() => [...document.querySelectorAll("img[src^='data:image/svg+xml']")]
  .filter(i => i.alt === '{alt}' && i.complete && i.naturalWidth > 300
          && i.naturalHeight > 150).length)()"""


DIALOG_OPEN = "document.querySelectorAll('[role=dialog]').length > 0"


def _open(browser: Browser, label: str) -> str:
    """Click the value's Show link ('opened'), or find it shown in the row ('inline')."""
    return str(browser.wait_for(OPEN.format(label=label)))


def _close(browser: Browser) -> None:
    """Close the open dialog and wait until it has gone (its closing transition over)."""
    browser.js(CLOSE)
    browser.wait_for(f"!({DIALOG_OPEN})", timeout=15)


def test_the_last_days_tables_and_plots_render_with_content(served):
    port, root = served
    day = DAYS[-1]
    browser = Browser(root / "chromium")
    try:
        browser.call("Page.enable")
        for n, (asset, (tables, plots)) in enumerate(PAGES.items()):
            browser.goto(f"http://127.0.0.1:{port}/assets/{asset}?view=events&partition={day}")
            first = tables[0][0]
            browser.wait_for(f"document.title.endsWith('| {asset}')"
                             f" && document.body.innerText.includes('{first}')")
            # the first visit's "Join the community" dialog: waited for on the first page
            if browser.skip_welcome(timeout=0 if n else 5):
                browser.wait_for(f"!({DIALOG_OPEN})", timeout=15)
            browser.settle()
            browser.screenshot(SHOTS / f"{asset}_events.png")
            for label, text in tables:
                _open(browser, label)
                assert browser.wait_for(ROWS_WITH.format(text=text)), (asset, label)
                browser.settle()
                browser.screenshot(SHOTS / f"{asset}_{label}.png")
                _close(browser)
            for label, alt in plots:  # decoded, with a real size: the SVG rendered
                how = _open(browser, label)
                assert browser.wait_for(IMAGE.format(alt=alt)), (asset, label)
                browser.settle()
                browser.screenshot(SHOTS / f"{asset}_{label}.png")
                if how == "opened":
                    _close(browser)
    finally:
        browser.close()
    assert all((SHOTS / f"{a}_events.png").stat().st_size > 10_000 for a in PAGES)


def test_screenshots_are_kept_out_of_git():
    """The artefacts directory is ignored, so screenshots never end up in a commit."""
    ignore = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().splitlines()
    assert ".test-artifacts/" in ignore
