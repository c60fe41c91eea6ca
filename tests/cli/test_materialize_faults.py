"""`lotus materialize` under faults: a failed day's row shows no earlier run's
figures, the columns never run together, and a second run on the same home at once is
refused. Real runs: the CLI, a real Dagster instance, a real second process."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from lotus_assets.day_plan import materialize_day
from lotus_assets.feed import raw_feed
from lotus_assets.microtape import microtape_frames
from lotus_cli.loop_summary import print_summary
from lotus_cli.main import cli
from lotus_cli.materialize import LOCK_FILE, DayOutcome, home_lock
from lotus_core.config import load_settings
from lotus_core.store.lake import Lake
from lotus_location.definitions import build_resources
from tests.helpers import wait_for

DAY = "2025-01-26"


def test_the_summary_keeps_columns_apart_and_shows_nothing_stale_for_a_failed_day(capsys):
    """The tester's "0          051,764": a 6-wide dead-letter count filled its column."""
    big = {"coins": 3, "frames": 51_764, "dead_letters": 22_736, "windows": 1_234,
           "published": 98, "explored": 41, "lessons_active": 4, "lessons_proposed": 12,
           "priors_ver": 7,
           "priors_before": 6, "patches": 3, "patches_added": 1, "decisions": 10_000,
           "fills": 250_000, "maker_share": 0.8125, "gross": 12_003.2, "fees": 24_348.878,
           "pnl": -12345.678}
    print_summary([
        DayOutcome("2026-02-04", True, "run-a", figures=big),
        DayOutcome("2026-02-05", False, "run-b", error="raw_feed: recording x is empty",
                   figures={}),
    ])
    lines = capsys.readouterr().out.splitlines()
    head, ok, failed, error = lines[:4]
    cells = re.split(r"\s{2,}", ok.strip())
    assert cells[:10] == ["2026-02-04", "ok", "3", "51,764", "22,736", "1,234", "98", "41", "4",
                          "12"]
    assert cells[10:] == ["v7", "+1 -0 ~0 (3 patches)", "10,000", "250,000", "81%",
                          "+12003.20", "24348.88", "-12345.68"]
    assert re.split(r"\s{2,}", failed.strip()) == ["2026-02-05", "FAILED"] + ["-"] * 16
    assert error.strip() == "error: raw_feed: recording x is empty"
    # right-aligned under its header
    for name in ("frames", "dead", "windows", "explored", "maker", "gross P&L", "fees",
                 "net P&L"):
        end = head.index(name) + len(name)
        assert ok[end - 1] != " " and ok[end:end + 2] in ("  ", ""), (name, ok)
    assert "51,764 frames" in lines[4] and "22,736 dead letters" in lines[4]


def test_a_day_missing_a_channel_says_so_under_its_row(capsys):
    """The missing channels of a day are printed under its row, with the features they
    leave missing; a day with every channel prints no such line."""
    print_summary([
        DayOutcome("2026-02-04", True, "run-a", figures={"coins": 1, "frames": 10,
                                                          "missing_channels": {}}),
        DayOutcome("2026-02-05", True, "run-b", figures={
            "coins": 1, "frames": 10, "missing_channels": {"BTC": ["trades"]}}),
    ])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("2026-02-04") and lines[2].startswith("2026-02-05")
    assert lines[3].strip() == ("channels: no trades channel for BTC: trade features (flow, "
                                "aggressor imbalance, trade count, sweeps) missing")
    assert "day(s) materialised" in lines[4]


def test_a_failed_day_prints_no_figures_of_the_earlier_good_run(env, dagster_instance):
    settings = load_settings(overrides={"home": os.environ["LOTUS_HOME"],
                                        "feed_dir": str(env)}, env={})
    good = materialize_day([raw_feed, microtape_frames], partition_key=DAY,
                           instance=dagster_instance, resources=build_resources(settings))
    assert good.success
    lake = Lake(settings.lake_dir)
    before = lake.path("raw_feed", DAY).read_bytes()
    bad = env / f"{DAY}.jsonl.gz"
    bad.write_bytes(gzip.compress(b""))

    as_json = CliRunner().invoke(cli, ["materialize", "--feed-dir", str(env), "--json"])
    assert as_json.exit_code == 1
    (outcome,) = json.loads(as_json.stdout)
    assert not outcome["success"] and outcome["figures"] == {}
    assert f"recording {bad} is empty" in outcome["error"]

    table = CliRunner().invoke(cli, ["materialize", "--feed-dir", str(env)])
    assert table.exit_code == 1
    row = next(line for line in table.stdout.splitlines() if line.startswith(DAY))
    assert re.split(r"\s{2,}", row.strip())[1:] == ["FAILED"] + ["-"] * 10  # not 54 frames
    assert f"error: raw_feed: recording {bad} is empty" in table.stdout
    assert "0/1 day(s) materialised; 0 frames" in table.stdout
    assert lake.path("raw_feed", DAY).read_bytes() == before


def test_a_second_materialize_on_the_same_home_is_refused(env):
    lotus = Path(sys.executable).with_name("lotus")
    home = Path(os.environ["LOTUS_HOME"])
    first = subprocess.Popen([str(lotus), "materialize", "--feed-dir", str(env)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lock = home / LOCK_FILE
        wait_for(lambda: lock.is_file() and f"pid {first.pid}," in lock.read_text(),
                 timeout=120, what="the first run to take the home's lock")
        second = CliRunner().invoke(cli, ["materialize", "--feed-dir", str(env)])
        assert first.poll() is None, "the first run ended before the second was refused"
        assert second.exit_code == 1
        assert "another `lotus materialize` is running on" in second.output
        assert f"(pid {first.pid}, started 20" in second.output and str(lock) in second.output
        out, _ = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, out  # the running one was not disturbed
    assert "1/1 day(s) materialised" in out
    with home_lock(home):  # released when its holder exited
        pass
