"""A day re-run alone reads its history from the lake: `lotus materialize --from D --to D`
after a full run writes the full run's partitions of D byte for byte (the partitions start
at the feed's first recording, not at `--from`), and a day whose look-back reaches an
earlier recorded day the lake lacks is refused before anything is written. The smallest
real feed: the committed 55-line recording and a copy of it moved a day earlier."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from lotus_assets.day_plan import materialize_day
from lotus_assets.feed import raw_feed
from lotus_assets.microtape import microtape_frames
from lotus_cli.main import cli
from lotus_core.config import load_settings
from lotus_core.venues.hyperliquid.encode import shifted
from lotus_location.definitions import build_resources
from tests.helpers import REAL_RECORDING, write_recording

PREV, DAY = "2025-01-25", "2025-01-26"  # the real recording is of DAY
LOTUS = Path(sys.executable).with_name("lotus")


def two_days(feed: Path) -> Path:
    """PREV (the real recording a day earlier) and DAY (the real recording) in `feed`."""
    lines = gzip.decompress(REAL_RECORDING.read_bytes()).splitlines()
    write_recording(feed / f"{PREV}.jsonl.gz",
                    [json.dumps(shifted(json.loads(x), -86_400_000)) for x in lines])
    (feed / f"{DAY}.jsonl.gz").write_bytes(REAL_RECORDING.read_bytes())
    return feed


def day_files(lake: Path, day: str) -> dict[str, bytes]:
    """Every file of every asset's partition of `day` (whole-day and coin files)."""
    return {str(p.relative_to(lake)): p.read_bytes()
            for p in sorted(lake.glob(f"*/date={day}*/**/*.parquet"))}


def _home(tmp_path: Path, monkeypatch) -> Path:  # noqa: ANN001 - pytest's monkeypatch
    """LOTUS_HOME and DAGSTER_HOME under `tmp_path`, no user settings in the way."""
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.delenv("LOTUS_FABRIC_URL", raising=False)
    monkeypatch.delenv("LOTUS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dagster").mkdir()
    return tmp_path / "home"


@pytest.mark.slow
def test_a_day_rerun_alone_writes_the_full_runs_partitions_byte_for_byte(tmp_path,
                                                                         monkeypatch):
    feed = two_days(tmp_path / "feed")
    home = _home(tmp_path, monkeypatch)
    full = CliRunner().invoke(cli, ["materialize", "--feed-dir", str(feed)])
    assert full.exit_code == 0, full.output
    before = day_files(home / "lake", DAY)
    assert {"dsi_model", "signal_eval_late", "loop_report"} <= {k.split("/")[0] for k in before}

    # the re-run in a process of its own, as a user runs it: the partitions definition is
    # made when the code location loads, with the real default (tests/conftest.py sets
    # LOTUS_PARTITIONS_START for the suite). A definition starting at --from would give
    # DAY's look-back windows no PREV: dsi_model, dsi_experts, scoring_day,
    # signal_eval_late and loop_report would differ, and dm_decisions would fail
    env = {k: v for k, v in os.environ.items() if k != "LOTUS_PARTITIONS_START"}
    again = subprocess.run([str(LOTUS), "materialize", "--feed-dir", str(feed), "--from", DAY,
                            "--to", DAY], env=env, cwd=tmp_path, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    after = day_files(home / "lake", DAY)
    assert sorted(after) == sorted(before)
    assert [k for k in before if after[k] != before[k]] == []


def _lake_state(lake: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(lake)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(lake.rglob("*")) if p.is_file()}


def test_a_day_whose_earlier_day_is_not_in_the_lake_is_refused_before_anything_is_written(
        tmp_path, monkeypatch, dagster_instance):
    feed = two_days(tmp_path / "feed")
    _home(tmp_path, monkeypatch)
    # DAY's first two assets are in the lake (an earlier partial run), PREV is not
    settings = load_settings(overrides={"home": str(tmp_path / "home"),
                                        "feed_dir": str(feed)}, env={})
    assert materialize_day([raw_feed, microtape_frames], partition_key=DAY,
                           instance=dagster_instance,
                           resources=build_resources(settings)).success
    lake = settings.lake_dir
    before = _lake_state(lake)
    assert before and not any(f"date={PREV}" in k for k in before)

    result = CliRunner().invoke(cli, ["materialize", "--feed-dir", str(feed),
                                      "--from", DAY, "--to", DAY])
    assert result.exit_code == 1, result.output
    assert f"cannot materialise from {DAY}" in result.output
    assert f"{PREV}: not materialised" in result.output  # the day, and the assets read on it
    missing = next(line for line in result.output.splitlines() if line.startswith(f"  {PREV}"))
    assert "raw_feed" in missing and "microtape_frames" in missing and "signal_events" in missing
    assert f"--from {PREV} --to {DAY}" in result.output and "Nothing was run" in result.output
    assert "materialising" not in result.output  # refused before the runs began
    assert _lake_state(lake) == before  # not a file added, replaced or touched


def test_late_rows_of_an_empty_look_back_frame_are_none():
    """The lake's window with no day present is a frame with no columns (no `coin`): the
    late rows of it are none, whether or not the previous day's tape exists."""
    from lotus_core.evaluation.late import late_tape, pending_windows
    from lotus_core.evaluation.outcomes import READ_COLUMNS

    nothing = pd.DataFrame()
    windows = pending_windows(nothing, nothing)
    tape = late_tape(windows, lambda coin: pytest.fail(f"read {coin}"), [60, 300])
    assert tape.empty and list(tape.columns) == list(READ_COLUMNS)
