"""Recordings shaped like the ones that go wrong in practice, run through `lotus materialize`
as a user runs it: one full range, then each day alone with `--from D --to D`. A day re-run
alone writes the full run's partitions byte for byte (and touches no other day's); a
wrong-day file and a cut gzip are refused by name, alone or in the range, and only their
days are; a missing channel is named under its day; duplicates are dead-lettered with their
reason; a reconnect's hole is flagged on the MicroTape. The committed files, and how each is
made from the real sample and the generator, are in fixtures/real_shaped/ (make.py). The
runs are in process, on the suite's LOTUS_PARTITIONS_START (tests/conftest.py); a re-run in
a process of its own, on the real default, is test_rerun_history's."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import orjson
import pytest
from click.testing import CliRunner

from lotus_cli.main import cli
from lotus_cli.materialize import screen_recordings
from lotus_core.config import load_settings
from lotus_core.feed.manifest import read_manifest, verify_all
from lotus_core.feed.recordings import read_head
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "real_shaped"
CASES = {"book_only": "2025-01-20", "trades_bbo": "2025-01-21", "reconnect_gap": "2025-01-22",
         "duplicates": "2025-01-23", "wrong_day": "2025-01-24", "cut_gzip": "2025-01-25",
         "one_coin": "2025-01-26"}
BAD = ("wrong_day", "cut_gzip")
GOOD = [day for name, day in CASES.items() if name not in BAD]
GAP_WARMUP_MS = 300_000  # MicroTapeParams.gap_warmup_ms: rows after the hole still flagged


def lake_files(lake: Path) -> dict[str, bytes]:
    """Every partition file of the lake, by its path in it."""
    return {str(p.relative_to(lake)): p.read_bytes() for p in sorted(lake.rglob("*.parquet"))}


def of_day(files: dict[str, bytes], day: str) -> dict[str, bytes]:
    """The files of `day`'s partitions (whole-day and coin ones)."""
    return {k: v for k, v in files.items() if f"/date={day}/" in k}


@dataclass
class Alone:
    """A day run alone after the full run: its exit code, output and the lake after it."""

    exit_code: int
    output: str
    lake: dict[str, bytes] = field(repr=False)


@dataclass
class Runs:
    feed: Path
    home: Path
    full_exit: int
    full_output: str
    full_stdout: str
    full: dict[str, bytes] = field(repr=False)  # the lake after the full run
    alone: dict[str, Alone] = field(default_factory=dict)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """The committed files in a fresh feed directory, one full run over it, then each day
    alone (the good ones and the bad ones), in process, LOTUS_HOME and DAGSTER_HOME under
    tmp and no user settings in the way."""
    tmp = tmp_path_factory.mktemp("real_shaped")
    feed = tmp / "feed"
    feed.mkdir()
    manifest = read_manifest(FIXTURES)
    assert manifest is not None
    for name in [*manifest["files"], "manifest.json"]:
        shutil.copyfile(FIXTURES / name, feed / name)
    (tmp / "dagster").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOTUS_HOME", str(tmp / "home"))
        mp.setenv("DAGSTER_HOME", str(tmp / "dagster"))
        mp.delenv("LOTUS_FABRIC_URL", raising=False)
        mp.delenv("LOTUS_CONFIG", raising=False)
        mp.chdir(tmp)
        full = CliRunner().invoke(cli, ["materialize", "--feed-dir", str(feed)])
        out = Runs(feed, tmp / "home", full.exit_code, full.output, full.stdout,
                   lake_files(tmp / "home" / "lake"))
        for day in CASES.values():
            again = CliRunner().invoke(cli, ["materialize", "--feed-dir", str(feed),
                                             "--from", day, "--to", day])
            out.alone[day] = Alone(again.exit_code, again.output,
                                   lake_files(tmp / "home" / "lake"))
        yield out


def summary_row(stdout: str, day: str) -> list[str]:
    """The summary's row of `day`, cell by cell (day, status, coins, frames, dead, ...)."""
    return next(line.split() for line in stdout.splitlines() if line.startswith(day))


def under(stdout: str, day: str, label: str) -> str:
    """The `label` line the summary prints under `day`'s row ('' when there is none)."""
    lines = stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(day))
    nxt = lines[at + 1].strip() if at + 1 < len(lines) else ""
    return nxt if nxt.startswith(label) else ""


def raw_feed_metadata(home: Path, day: str) -> dict[str, Any]:
    """The metadata of `day`'s latest raw_feed materialisation in the run's instance."""
    with dg.DagsterInstance.from_config(str(home.parent / "dagster")) as instance:
        found = instance.fetch_materializations(
            dg.AssetRecordsFilter(dg.AssetKey("raw_feed"), asset_partitions=[day]), limit=1)
        (record,) = found.records
        event = record.asset_materialization
        assert event is not None
        return {k: v.value for k, v in event.metadata.items()}


def test_the_committed_files_match_their_manifest() -> None:
    """Seven consecutive days, one per case, each small, every file pinned by its sha256
    (a cut or changed copy is refused by name before anything runs)."""
    manifest = read_manifest(FIXTURES)
    assert manifest is not None
    assert sorted(manifest["files"]) == [f"{day}.jsonl.gz" for day in CASES.values()]
    assert manifest["made_by"]["cases"] == {day: name for name, day in CASES.items()}
    assert verify_all(FIXTURES) == manifest["files"]
    assert sum((FIXTURES / n).stat().st_size for n in manifest["files"]) < 300_000
    cut = read_head(FIXTURES / f"{CASES['cut_gzip']}.jsonl.gz")
    assert cut.problem is not None and "is truncated after" in cut.problem
    assert all(read_head(FIXTURES / f"{d}.jsonl.gz").problem is None
               for n, d in CASES.items() if n != "cut_gzip")


def test_screening_names_the_bad_files_before_any_run() -> None:
    """Before any run, cheaply: the wrong-day file and the cut one are broken (the look-back
    check of a later day asks the lake for neither: neither can be made), refused when
    asked for, and a warning when not."""
    every = screen_recordings(FIXTURES, list(CASES.values()))
    assert every.broken == {CASES[name] for name in BAD}
    assert sorted(every.refused) == sorted(every.broken)
    assert "0 of 55 lines fall in 2025-01-24" in every.refused[CASES["wrong_day"]]
    alone = screen_recordings(FIXTURES, [CASES["one_coin"]])
    assert alone.broken == every.broken and alone.refused == {}
    assert [w.split(".jsonl.gz")[0][-10:] for w in alone.warnings] == [CASES[n] for n in BAD]


@pytest.mark.slow
def test_each_good_day_rerun_alone_writes_the_full_runs_partitions_byte_for_byte(
        runs: Runs) -> None:
    assert runs.full_exit == 1, runs.full_output  # two days refused
    for day in GOOD:
        alone = runs.alone[day]
        assert alone.exit_code == 0, f"{day}:\n{alone.output}"
        before, after = of_day(runs.full, day), of_day(alone.lake, day)
        assert len(before) > 20 and any(k.startswith("raw_feed/") for k in before), day
        assert sorted(after) == sorted(before), day
        assert [k for k in before if after[k] != before[k]] == [], day
        # and no other day's partition was added, dropped or changed
        assert alone.lake == runs.full, (day, sorted(set(alone.lake) ^ set(runs.full)))


@pytest.mark.slow
def test_a_bad_recording_is_refused_by_name_and_only_its_day(runs: Runs) -> None:
    assert "Aborted!" not in runs.full_output
    why = {"wrong_day": "0 of 55 lines fall in 2025-01-24 (its lines are of 2025-01-26)",
           "cut_gzip": "is truncated after"}
    for name in BAD:
        day = CASES[name]
        path = runs.feed / f"{day}.jsonl.gz"
        row = summary_row(runs.full_stdout, day)
        assert row[1] == "FAILED" and set(row[2:]) == {"-"}, row
        error = under(runs.full_stdout, day, "error:")
        assert path.name in error and why[name] in error, error
        assert of_day(runs.full, day) == {}  # nothing written for it
        alone = runs.alone[day]  # alone too: refused by name, and nothing changes
        assert alone.exit_code == 1 and path.name in alone.output and why[name] in alone.output
        assert alone.lake == runs.full
    for day in GOOD:  # every other day of the range was made
        assert summary_row(runs.full_stdout, day)[1] == "ok", runs.full_output
    assert "5/7 day(s) materialised" in runs.full_stdout


@pytest.mark.slow
def test_the_missing_channels_are_named_under_their_day(runs: Runs) -> None:
    book_only = under(runs.full_stdout, CASES["book_only"], "channels:")
    for channel in ("trades", "bbo", "activeAssetCtx", "candle"):
        assert f"no {channel} channel for BTC, ETH" in book_only, book_only
    assert "l2Book" not in book_only
    trades_bbo = under(runs.full_stdout, CASES["trades_bbo"], "channels:")
    assert "no l2Book channel for BTC, ETH: book features" in trades_bbo, trades_bbo
    assert "trades channel" not in trades_bbo and "bbo channel" not in trades_bbo
    meta = raw_feed_metadata(runs.home, CASES["book_only"])
    assert meta["missing_channels"] == {c: ["trades", "bbo", "activeAssetCtx", "candle"]
                                        for c in ("BTC", "ETH")}
    meta = raw_feed_metadata(runs.home, CASES["trades_bbo"])
    assert meta["missing_channels"]["ETH"] == ["l2Book", "activeAssetCtx", "candle"]
    assert meta["missing_channels"]["BTC"] == ["l2Book", "activeAssetCtx", "candle"]


@pytest.mark.slow
def test_duplicates_are_dead_lettered_with_their_reason(runs: Runs) -> None:
    day = CASES["duplicates"]
    settings = load_settings(overrides={"home": str(runs.home)}, env={})
    with OpsDb.open(settings.fabric) as fabric:
        letters = fabric.dead_letters(day)
        others = {d: fabric.dead_letters(d) for d in GOOD if d != day}
    reasons = sorted((r["reason"], r["detail"]) for r in letters)
    assert reasons == [("duplicate_frame", "identical to an earlier line")] * 3 + [
        ("duplicate_trades", "every trade in the frame was already seen")] * 4, reasons
    assert summary_row(runs.full_stdout, day)[4] == "7"  # the summary's `dead` column
    assert others == {d: [] for d in others}  # the other days have none
    meta = raw_feed_metadata(runs.home, day)
    assert meta["dead_letter_reasons"] == {"duplicate_frame": 3, "duplicate_trades": 4}


@pytest.mark.slow
def test_the_reconnect_gap_is_flagged_on_the_microtape(runs: Runs) -> None:
    day = CASES["reconnect_gap"]
    records = [orjson.loads(x) for x in
               gzip.decompress((runs.feed / f"{day}.jsonl.gz").read_bytes()).splitlines()]
    gaps = [r["msg"]["data"] for r in records
            if isinstance(r["msg"], dict) and r["msg"].get("channel") == "lotusGap"]
    assert [g["end_ms"] is None for g in gaps] == [True, False]
    lo, hi = gaps[1]["start_ms"], gaps[1]["end_ms"] + GAP_WARMUP_MS
    lake = Lake(runs.home / "lake")
    tape = lake.read("microtape_frames", day)
    assert set(tape["coin"]) == {"BTC", "ETH"}
    inside = (tape["ts_ms"] >= lo) & (tape["ts_ms"] < hi)
    assert tape.loc[inside, "gap"].all() and not tape.loc[~inside, "gap"].any()
    eth = tape[tape["coin"] == "ETH"]
    assert eth["gap"].any() and (~eth["gap"]).any()  # rows before the hole are not flagged
    # the windows whose horizon crosses it are evaluated as `gap`: never learned from
    assert (lake.read("signal_eval", day)["status"] == "gap").any()
    for other in GOOD:
        if other != day:
            assert not lake.read("microtape_frames", other)["gap"].any()
            assert "gap" not in set(lake.read("signal_eval", other)["status"])
    meta = raw_feed_metadata(runs.home, day)
    assert meta["stats"]["gap_records"] == 2
    assert meta["dead_letter_reasons"] == {}  # the reconnect's lines are all accepted
    # the snapshots re-sent after it (BTC's and ETH's), and the real sample's own one
    assert meta["stats"]["resent_snapshots"] == 3
