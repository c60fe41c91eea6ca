"""A bad recording never overwrites good data: a day whose recording is empty,
truncated, or holds another day's lines fails `raw_feed` naming the file, writes nothing,
and the next good day still runs (its warm start goes cold with a warning). Real Dagster
runs on a real instance, the real lake and the SQLite fabric."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import dagster as dg
import pytest

from lotus_assets.day_plan import materialize_day
from lotus_assets.feed import raw_feed
from lotus_assets.microtape import microtape_frames
from lotus_core.config import load_settings
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_core.venues.hyperliquid.encode import shifted
from lotus_location.definitions import build_resources
from tests.helpers import REAL_RECORDING, write_recording

PREV, DAY = "2025-01-25", "2025-01-26"  # the real recording is of DAY
_DAY_MS = 86_400_000
ASSETS = ("raw_feed", "microtape_frames")


def _real_lines() -> list[bytes]:
    return gzip.decompress(REAL_RECORDING.read_bytes()).splitlines()


def _wrong_day(path: Path) -> str:
    path.write_bytes(REAL_RECORDING.read_bytes())  # DAY's file under PREV's name
    return f"0 of 55 lines fall in {PREV} (its lines are of {DAY})"


def _empty_gzip(path: Path) -> str:
    path.write_bytes(gzip.compress(b""))
    return "is empty (a valid gzip stream with no lines)"


def _truncated(path: Path) -> str:
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # a partial copy: ends inside its member
    return "is truncated after"


BAD_KINDS = {"wrong_day": _wrong_day, "empty_gzip": _empty_gzip, "truncated": _truncated}


@pytest.fixture
def setup(tmp_path):
    feed = tmp_path / "feed"
    write_recording(feed / f"{PREV}.jsonl.gz",
                    [json.dumps(shifted(json.loads(x), -_DAY_MS)) for x in _real_lines()])
    (feed / f"{DAY}.jsonl.gz").write_bytes(REAL_RECORDING.read_bytes())
    settings = load_settings(overrides={"home": str(tmp_path / "home"),
                                        "feed_dir": str(feed)}, env={})
    return feed, settings


def _run(settings, instance, day: str) -> dg.ExecuteInProcessResult:
    return materialize_day([raw_feed, microtape_frames], partition_key=day, instance=instance,
                           resources=build_resources(settings), raise_on_error=False)


def _failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    event = next(e for e in result.all_events if e.is_step_failure)
    assert event.step_key == "raw_feed"
    return event.step_failure_data.error.message


def _snapshot(lake: Lake) -> dict[tuple[str, str], list[bytes]]:
    return {(a, d): [p.read_bytes() for p in lake.files(a, d)]
            for a in ASSETS for d in (PREV, DAY)}


def _dead_letters(settings, day: str) -> list[tuple]:
    with OpsDb.open(settings.fabric) as fabric:
        return [(r["line_no"], r["reason"], r["run_id"]) for r in fabric.dead_letters(day)]


@pytest.mark.parametrize("kind", sorted(BAD_KINDS))
def test_a_bad_recording_fails_naming_the_file_and_keeps_every_good_partition(
        kind, setup, dagster_instance):
    feed, settings = setup
    lake = Lake(settings.lake_dir)
    for day in (PREV, DAY):
        assert _run(settings, dagster_instance, day).success
    before, letters = _snapshot(lake), _dead_letters(settings, PREV)
    assert len(lake.read("raw_feed", PREV)) == 2 and len(lake.read("microtape_frames", PREV))

    bad = feed / f"{PREV}.jsonl.gz"
    expected = BAD_KINDS[kind](bad)
    message = _failure(_run(settings, dagster_instance, PREV))
    assert str(bad) in message and expected in message, message
    assert _snapshot(lake) == before  # neither this day's nor any other day's bytes changed
    assert _dead_letters(settings, PREV) == letters  # nor the day's dead letters

    # the next good day still runs: its warm start reads the bad file, and goes cold
    after = _run(settings, dagster_instance, DAY)
    assert after.success
    meta = after.asset_materializations_for_node("microtape_frames")[0].metadata
    assert meta["start"].value == "cold"
    assert meta["warning"].value.startswith(f"cold: the recording of {PREV}")
    assert [p.read_bytes() for p in lake.files("raw_feed", DAY)] == before[("raw_feed", DAY)]
    assert len(lake.read("microtape_frames", DAY)) == len(lake.read("microtape_frames", PREV))


def test_an_unreadable_previous_day_says_why_in_the_warning(setup, dagster_instance):
    """The case that failed the next day before: its warm start parsed an empty gzip."""
    feed, settings = setup
    for day in (PREV, DAY):
        assert _run(settings, dagster_instance, day).success
    _empty_gzip(feed / f"{PREV}.jsonl.gz")
    after = _run(settings, dagster_instance, DAY)
    assert after.success
    warning = after.asset_materializations_for_node("microtape_frames")[0].metadata["warning"]
    assert warning.value.startswith(f"cold: the recording of {PREV} is unusable (")


def test_a_zero_byte_recording_is_refused_by_name(setup, dagster_instance):
    feed, settings = setup
    (feed / f"{PREV}.jsonl.gz").write_bytes(b"")
    message = _failure(_run(settings, dagster_instance, PREV))
    assert f"recording {feed / f'{PREV}.jsonl.gz'} is empty (0 bytes)" in message
    assert not Lake(settings.lake_dir).exists("raw_feed", PREV)


def test_a_wrong_day_file_never_changes_the_day_it_copies_with_coin_shards(
        tmp_path, dagster_instance):
    """The root cause of the next day's empty partitions: with coin shards, a set parsed for
    the misnamed copy (every line outside its day) was keyed by the bytes alone and served
    to the real day. The set is keyed by the day too."""
    feed = tmp_path / "feed"
    feed.mkdir()
    for day in (PREV, DAY):
        (feed / f"{day}.jsonl.gz").write_bytes(REAL_RECORDING.read_bytes())
    settings = load_settings(overrides={"home": str(tmp_path / "home"), "feed_dir": str(feed),
                                        "feed": {"coin_shards": 2}}, env={})
    assert settings.feed.coin_shards == 2
    message = _failure(_run(settings, dagster_instance, PREV))
    assert f"0 of 55 lines fall in {PREV} (its lines are of {DAY})" in message
    assert _run(settings, dagster_instance, DAY).success
    lake = Lake(settings.lake_dir)
    assert int(lake.read("raw_feed", DAY)["frames"].sum()) == 54
    assert len(lake.read("microtape_frames", DAY)) > 20
    assert not lake.exists("raw_feed", PREV)
