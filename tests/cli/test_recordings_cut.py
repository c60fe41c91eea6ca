"""A recording cut short or corrupt (a crash, a partial copy) is named with its line and the
days it affects, and only its day is refused: the other days materialise. No run prints a
bare `Aborted!` for it (what gzip's EOFError escaping the coin check would print: click
reads it as Ctrl-D), whatever days are asked for. Cut files are made in tmp_path from the
committed real recording."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

import lotus_cli.materialize as materialize
from lotus_assets.day_plan import materialize_day
from lotus_assets.feed import raw_feed
from lotus_assets.microtape import microtape_frames
from lotus_cli.main import cli
from lotus_cli.materialize import (
    DayOutcome,
    MissingHistoryError,
    check_history,
    screen_recordings,
)
from lotus_core.config import load_settings
from lotus_core.config.coins import recorded_coins, unrecorded
from lotus_core.feed.recordings import read_head
from lotus_core.store.lake import STAGE_DIR, Lake
from lotus_location.definitions import build_definitions, build_resources
from tests.cli.test_rerun_history import DAY, PREV, two_days


def _cut(path: Path) -> int:
    """Cut `path` in the middle of its gzip member (a partial copy); its complete lines."""
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return zlib.decompressobj(wbits=31).decompress(whole[: len(whole) // 2]).count(b"\n")


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):  # deflate data, not the header
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.fixture
def feed(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.delenv("LOTUS_FABRIC_URL", raising=False)
    monkeypatch.delenv("LOTUS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dagster").mkdir()
    return two_days(tmp_path / "feed")


def test_a_cut_or_corrupt_recording_is_named_with_its_line_never_raised(feed):
    path = feed / f"{PREV}.jsonl.gz"
    lines = _cut(path)
    assert 0 < lines < 2_000  # inside the head the coin check reads
    head = read_head(path)
    assert len(head.lines) == lines and head.cut_after == lines
    assert head.problem is not None and str(path) in head.problem
    assert f"truncated after {lines:,} lines, inside line {lines + 1:,}" in head.problem
    assert recorded_coins(path) == {"BTC"}  # the lines before the cut, no EOFError
    assert unrecorded(feed, {"feed.coins": ["BTC"]}) == []

    _corrupt(feed / f"{DAY}.jsonl.gz")
    broken = read_head(feed / f"{DAY}.jsonl.gz")
    assert broken.problem is not None and "is corrupt after line" in broken.problem
    (feed / "2025-01-27.jsonl.gz").write_bytes(b"not gzip at all\n")
    assert "is not a gzip recording" in str(read_head(feed / "2025-01-27.jsonl.gz").problem)

    screened = screen_recordings(feed, [DAY], verify_manifest=False)
    assert screened.broken == {PREV, DAY, "2025-01-27"}
    assert list(screened.refused) == [DAY]  # only the day asked for is refused
    assert "was not run: nothing of it was written" in screened.refused[DAY]
    warned = " ".join(screened.warnings)
    assert str(path) in warned and f"{PREV} cannot be materialised" in warned
    assert f"{DAY} starts its MicroTape cold" in warned  # the day after the cut one


def test_a_cut_day_is_refused_up_front_and_the_others_materialise(feed):
    path = feed / f"{PREV}.jsonl.gz"
    lines = _cut(path)
    result = CliRunner().invoke(cli, ["materialize", "--feed-dir", str(feed), "--json"])
    assert result.exit_code == 1, result.output
    assert "Aborted!" not in result.output
    assert f"refused {PREV}: recording {path} is truncated after {lines:,} lines, inside " \
           f"line {lines + 1:,}" in result.output
    assert f"{DAY} starts its MicroTape cold" in result.output
    prev, day = (DayOutcome(**o) for o in json.loads(result.stdout))
    assert not prev.success and prev.run_id == "" and str(path) in str(prev.error)
    assert day.success and day.figures["frames"] == 54, day
    lake = Lake(Path("home") / "lake")
    assert lake.days("raw_feed") == [DAY] and lake.days("loop_report") == [DAY]
    assert "nothing of it was written" in str(prev.error)  # and it is true:
    assert not list(Path("home/lake").glob(f"*/date={PREV}*"))


def test_a_cut_day_not_asked_for_is_a_warning_and_no_look_back_needs_it(feed, monkeypatch):
    """`--from DAY` with PREV cut: no `Aborted!`, a warning naming the file and its line,
    DAY is run (the look-back check does not ask the lake for a day whose file is broken:
    it cannot be made, and a full run lacks it too). The run itself is stubbed here (the
    test above runs a day for real)."""
    path = feed / f"{PREV}.jsonl.gz"
    lines = _cut(path)
    seen = {}

    def fake(settings, days, instance, on_day=None, log_level="WARNING", refused=None,
             broken=(), on_start=None, on_run=None):  # noqa: ANN001
        seen.update(days=days, refused=dict(refused or {}), broken=set(broken))
        return [DayOutcome(d, True, "run") for d in days]

    monkeypatch.setattr(materialize, "materialize_days", fake)
    result = CliRunner().invoke(cli, ["materialize", "--feed-dir", str(feed), "--from", DAY,
                                      "--to", DAY])
    assert result.exit_code == 0, result.output
    assert "Aborted!" not in result.output
    assert f"warning: recording {path} is truncated after {lines:,} lines" in result.output
    assert seen == {"days": [DAY], "refused": {}, "broken": {PREV}}

    settings = load_settings(overrides={"home": "home", "feed_dir": str(feed)}, env={})
    defs = build_definitions(settings)
    check_history(defs, Lake("home/lake"), feed, [DAY], broken={PREV})  # nothing to read
    with pytest.raises(MissingHistoryError, match=f"{PREV}: not materialised"):
        check_history(defs, Lake("home/lake"), feed, [DAY])  # a whole PREV is needed


def test_a_day_refused_while_it_runs_leaves_the_lake_as_it_was_and_says_so(
        feed, dagster_instance):
    """A day `raw_feed` refuses while it runs (an empty gzip: found only by parsing). The
    steps beside it in its phase run too (`dsi_model` makes its partition: written in
    place, the day would be half old, half new); the day is made in a stage, and a failed
    day's stage is discarded: the lake's files of the day are the earlier run's,
    untouched, and the message says so."""
    (feed / f"{PREV}.jsonl.gz").unlink()
    settings = load_settings(overrides={"home": "home", "feed_dir": str(feed)}, env={})
    assert materialize_day([raw_feed, microtape_frames], partition_key=DAY,
                           instance=dagster_instance, resources=build_resources(settings)).success
    lake = Path("home") / "lake"
    before = _files(lake)
    assert before and any(k.startswith("raw_feed/") for k in before)
    bad = feed / f"{DAY}.jsonl.gz"
    bad.write_bytes(gzip.compress(b""))

    result = CliRunner().invoke(cli, ["materialize", "--feed-dir", str(feed), "--json"])
    assert result.exit_code == 1, result.output
    (outcome,) = json.loads(result.stdout)
    error = outcome["error"]
    assert error.startswith(f"raw_feed: recording {bad} is empty"), error
    assert f"no partition of {DAY} reached the lake: the 1 this run made were discarded" \
        in error  # dsi_model's, made beside raw_feed in the first phase
    assert "nothing was written" not in error
    assert _files(lake) == before  # no file added, replaced or touched
    assert not list((lake / STAGE_DIR).iterdir())  # and no stage left behind


def _files(lake: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(lake)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(lake.rglob("*.parquet")) if STAGE_DIR not in p.parts}
